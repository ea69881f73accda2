// Command edgepm is the edge appliance and its operator commands.
//
//	edgepm run --config /etc/edgepm/edgepm.yaml
//	edgepm status [--config FILE | --addr HOST:PORT]
//	edgepm config check --config FILE
//	edgepm buffer inspect|export --data-dir DIR
//	edgepm keygen | edgepm model build|validate|sign|push|list|rollback
//	edgepm features export
//	edgepm decommission --gateway ID
//	edgepm fleet status|serve|rollouts
//	edgepm version
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `edgepm: predictive-maintenance edge appliance

usage (every command takes --help):
  edgepm run [--config FILE]              run the appliance (systemd Type=notify)
  edgepm status [--config FILE | --addr HOST:PORT]
                                          show a running appliance's state (address: --addr,
                                          else http.listen of --config or EDGEPM_HTTP_LISTEN,
                                          else /etc/edgepm/edgepm.yaml, else 127.0.0.1:9510)
  edgepm config check [--config FILE]     validate a config file and print it with defaults
  edgepm buffer inspect --data-dir DIR    streams, depths, bytes, oldest age, drops
  edgepm buffer export --data-dir DIR --stream S   records as JSON lines
  edgepm keygen                           make an ed25519 model-signing key pair
  edgepm model build|validate|sign ...    make and check model packages (docs/models.md)
  edgepm model push|list|rollback ...     deliver models over Kafka
  edgepm model promote|abort|shadow ...   staged rollout (push --canary; docs/operations.md)
  edgepm features export --spec S --in readings --out rows.csv   feature rows as the gateway computes them
  edgepm decommission --gateway ID [--force] [kafka flags]
                                          remove a stopped gateway from the fleet (tombstone
                                          on the gateways topic)
  edgepm fleet status|serve|rollouts ...  every gateway's last heartbeat, models, rollouts (from Kafka)
  edgepm version                          print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "config":
		return cmdConfig(args[1:], stdout, stderr)
	case "buffer":
		return cmdBuffer(args[1:], stdout, stderr)
	case "keygen":
		return cmdKeygen(args[1:], stdout, stderr)
	case "model":
		return cmdModel(args[1:], stdout, stderr)
	case "features":
		return cmdFeatures(args[1:], stdout, stderr)
	case "decommission":
		return cmdDecommission(args[1:], stdout, stderr)
	case "fleet":
		return cmdFleet(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		return cmdVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "edgepm: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
