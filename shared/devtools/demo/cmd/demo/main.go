// Command demo is `make demo`: ecr-warden's main job end to end on the local
// AWS with the real Lambda binaries, printed for a person to read. It starts
// and stops everything it needs, also on Ctrl-C.
//
//	go run ./shared/devtools/demo/cmd/demo -declaration infra/declaration.json [-logs]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ecr-warden/ecr-warden/shared/cli"
	"github.com/ecr-warden/ecr-warden/shared/devtools/demo"
)

func main() {
	declaration := flag.String("declaration", "infra/declaration.json", "declaration whose example ids the demo maps onto its local organization")
	logs := flag.Bool("logs", false, "also print every log line of the functions (to stderr)")
	cli.Main("demo", os.Args[1:], "make demo DECLARATION=<file>")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	opt := demo.Options{Declaration: *declaration}
	if *logs {
		opt.FunctionLogs = os.Stderr
	}
	_, err := demo.Run(ctx, opt)
	interrupted := ctx.Err() != nil
	stop()
	if interrupted {
		fmt.Fprintln(os.Stderr, "demo: interrupted; the local AWS and the functions it started are stopped")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", cli.MissingFile(err, "make demo DECLARATION=<file>, default infra/declaration.json"))
		os.Exit(1)
	}
}
