// Command infra is the ecr-warden CDK app (cdk.json runs it with `go run ./infra`). It validates the
// declaration named by the "declaration" context and exits non-zero with every problem listed, so a
// bad declaration stops `cdk synth` and `cdk deploy` before anything reaches AWS.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/infra/app"
)

func main() {
	defer jsii.Close()
	cdkApp := awscdk.NewApp(nil)
	o, err := app.OptionsFromContext(cdkApp)
	if err == nil {
		_, err = app.Build(cdkApp, o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ecr-warden: %v\n", err)
		jsii.Close()
		os.Exit(1)
	}
	cdkApp.Synth(nil)
}
