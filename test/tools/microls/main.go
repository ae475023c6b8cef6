// Command microls discovers NATS micro services (ADR-32) with the Go client
// (github.com/nats-io/nats.go 1.22 as packaged by Debian, and its micro package's types), so that
// tests see the service as a client that is not ours sees it.
//
// Build offline in GOPATH mode (Debian packages golang-go and golang-github-nats-io-go-nats-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode CGO_ENABLED=0 go build -o microls ./test/tools/microls
//
// Usage:
//
//	microls -server URL -verb PING|INFO|STATS [-name NAME [-id ID]] [-wait 1s]
//
// It sends one request on $SRV.<verb>[.<name>[.<id>]], collects every reply that arrives within
// -wait, and prints them as one JSON array, each reply as sent. Each reply must decode as the
// micro package's ServiceIdentity (name, id, version) with all three set, or it exits 1.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

func main() {
	server := flag.String("server", nats.DefaultURL, "NATS server URL")
	verb := flag.String("verb", "PING", "PING, INFO or STATS")
	name := flag.String("name", "", "service name (optional)")
	id := flag.String("id", "", "service instance id (optional, needs -name)")
	wait := flag.Duration("wait", time.Second, "how long to collect replies")
	flag.Parse()

	subject := "$SRV." + strings.ToUpper(*verb)
	if *name != "" {
		subject += "." + *name
		if *id != "" {
			subject += "." + *id
		}
	}
	if err := run(*server, subject, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "microls:", err)
		os.Exit(1)
	}
}

func run(server, subject string, wait time.Duration) error {
	nc, err := nats.Connect(server, nats.Timeout(5*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()

	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return err
	}
	replies := []json.RawMessage{}
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		msg, err := sub.NextMsg(left)
		if err == nats.ErrTimeout {
			break
		}
		if err == nats.ErrNoResponders {
			break // nothing listens on the subject: an empty list
		}
		if err != nil {
			return err
		}
		var identity micro.ServiceIdentity
		if err := json.Unmarshal(msg.Data, &identity); err != nil {
			return fmt.Errorf("reply on %s is not a micro reply: %v: %s", subject, err, msg.Data)
		}
		if identity.Name == "" || identity.ID == "" || identity.Version == "" {
			return fmt.Errorf("reply on %s lacks name, id or version: %s", subject, msg.Data)
		}
		replies = append(replies, json.RawMessage(msg.Data))
	}
	return json.NewEncoder(os.Stdout).Encode(replies)
}
