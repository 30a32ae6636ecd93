// Command localaws runs the project's local AWS (moto plus the project's ECR
// and ECR Public extension) in the foreground, so a developer can point the
// AWS CLI, the demo or `make invoke` at it. Stop it with Ctrl-C.
//
// With -seed demo (`make emulator SEED=demo`) it first builds the demo
// organization in it (shared/devtools/demo.Seed), writes the declaration and
// the sample events with the seeded ids under -out (build/emulator), and
// prints the ids and the exports that act as the hub.
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
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

func main() {
	port := flag.Int("port", 5000, "loopback port to listen on (127.0.0.1)")
	quiet := flag.Bool("quiet", false, "do not print moto's request log")
	seed := flag.String("seed", "", `"demo": build the demo organization in it (management, hub, members in nested OUs, the roles and secrets the declaration names)`)
	out := flag.String("out", "", "with -seed: where the seeded declaration, events and env.sh go (default build/emulator)")
	declaration := flag.String("declaration", "", "with -seed: the example declaration to map onto the seeded ids (default infra/declaration.json)")
	cli.Main("localaws", os.Args[1:], "make emulator [SEED=demo] [LOG=1] [EMULATOR_PORT=5000]")
	if *seed != "" && *seed != "demo" {
		fmt.Fprintf(os.Stderr, "localaws: -seed %q: the only seed is \"demo\"\n", *seed)
		os.Exit(2)
	}

	opt := localaws.Options{Port: *port}
	if !*quiet {
		opt.Stdout = os.Stderr
	}
	s, err := localaws.Start(context.Background(), opt)
	if err != nil {
		fmt.Fprintf(os.Stderr, "localaws: starting the local AWS on 127.0.0.1:%d: %v\n", *port, err)
		os.Exit(1)
	}
	fmt.Printf("local AWS listening on %s (moto + ECR/ECR Public extension)\n", s.URL)
	if *seed == "demo" {
		root, err := lambdalocal.ModuleRoot()
		if err == nil {
			var seeded *demo.Seeded
			seeded, err = demo.Seed(context.Background(), s, demo.SeedOptions{Root: root, Dir: *out, Declaration: *declaration})
			if err == nil {
				seeded.Print(os.Stdout, root)
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "localaws: seeding the demo organization: %v\n", err)
			_ = s.Stop()
			os.Exit(1)
		}
	} else {
		fmt.Printf("  export AWS_ENDPOINT_URL=%s AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1\n", s.URL)
	}
	fmt.Printf("  reset all state: curl -X POST %s/moto-api/reset\n", s.URL)
	fmt.Println("ready")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- s.Wait() }()
	select {
	case <-sig:
		fmt.Println("stopping the local AWS")
		if err := s.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "localaws: stopping: %v\n", err)
			os.Exit(1)
		}
	case err := <-exited:
		fmt.Fprintf(os.Stderr, "localaws: moto exited on its own: %v\n", err)
		os.Exit(1)
	}
}
