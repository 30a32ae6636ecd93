// Command localaws runs the project's local AWS (moto plus the project's ECR
// and ECR Public extension) in the foreground, so a developer can point the
// AWS CLI, the demo or `make invoke` at it. Stop it with Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

func main() {
	port := flag.Int("port", 5000, "loopback port to listen on (127.0.0.1)")
	quiet := flag.Bool("quiet", false, "do not print moto's request log")
	flag.Parse()

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
	fmt.Printf("  export AWS_ENDPOINT_URL=%s AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1\n", s.URL)
	fmt.Printf("  reset all state: curl -X POST %s/moto-api/reset\n", s.URL)

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
