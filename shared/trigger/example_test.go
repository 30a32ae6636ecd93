package trigger_test

import (
	"fmt"
	"os"

	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// A handler decodes the raw event, audits and drops rejections (returning
// success so nothing redelivers them), and checks the declared regions.
func ExampleParse() {
	for _, name := range []string{"ecr-create-repository-api-member.json", "ecr-create-repository-failed.json"} {
		raw, _ := os.ReadFile("../../events/" + name)
		t, err := trigger.Parse(raw)
		if err == nil {
			err = t.CheckRegion([]string{"us-east-1"})
		}
		if r, ok := trigger.AsRejection(err); ok {
			fmt.Println("rejected:", r.Reason)
			continue
		}
		fmt.Println(t, "by", t.Trigger.Actor.Type, t.Trigger.Actor.IsRole("ecr-warden-execution"))
	}
	// Output:
	// repository 222222222222/us-east-1/team-a/app by AssumedRole false
	// rejected: failed-call
}
