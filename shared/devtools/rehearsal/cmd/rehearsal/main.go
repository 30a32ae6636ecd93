// Command rehearsal is `make deploy-local`: the deploy rehearsal on the local AWS (see package
// rehearsal). It prints each step, the resource types the local AWS skipped and what converged.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/devtools/rehearsal"
)

func main() {
	start := time.Now()
	if _, err := rehearsal.Run(context.Background(), rehearsal.Options{Out: os.Stdout}); err != nil {
		fmt.Fprintf(os.Stderr, "deploy rehearsal failed: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("deploy rehearsal passed in %s\n", time.Since(start).Round(time.Second))
}
