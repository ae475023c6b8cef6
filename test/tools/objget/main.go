// Command objget reads an object from a NATS JetStream Object Store with the Go client
// (github.com/nats-io/nats.go, the 1.22 API as packaged by Debian), so that tests can prove that
// a client other than the writer's (@nats-io/obj) gets a byte-identical object.
//
// Build offline in GOPATH mode (Debian packages golang-go and golang-github-nats-io-go-nats-dev),
// without -trimpath (it recompiles the standard library: 15 s instead of 5-7 s from a cold cache):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode CGO_ENABLED=0 go build -o objget ./test/tools/objget
//
// Usage:
//
//	objget -server URL -bucket B -name N -out FILE   fetch an object into FILE
//	objget -server URL -bucket B -name N -info       print the object's info only
//	objget -server URL -bucket B -list               print the bucket's objects
//
// Each mode prints one JSON value on stdout. On failure it prints a message on stderr and exits
// 1, or 3 when the bucket or the object does not exist (2 is flag's usage error).
//
// Timeouts are retried with backoff for up to -retry-for (30 s by default): on nats-server 2.11
// and older, in a cluster with a node down, a get's ephemeral consumer can be placed on the dead
// node and the get times out (fixed in nats-server 2.12).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

const exitNotFound = 3

var errNotFound = errors.New("not found")

// info is what every mode prints about an object.
type info struct {
	Name        string              `json:"name"`
	Bucket      string              `json:"bucket"`
	NUID        string              `json:"nuid"`
	Size        uint64              `json:"size"`
	Chunks      uint32              `json:"chunks"`
	Digest      string              `json:"digest"`
	ModTime     time.Time           `json:"mtime"`
	Description string              `json:"description,omitempty"`
	Headers     map[string][]string `json:"headers,omitempty"`
	// Metadata is not in nats.go 1.22's ObjectMeta: it is read from the raw meta message.
	Metadata map[string]string `json:"metadata,omitempty"`
	Deleted  bool              `json:"deleted,omitempty"`
}

type getResult struct {
	info
	Out    string `json:"out"`
	SHA256 string `json:"sha256"`
}

type options struct {
	server, bucket, name, out string
	list, info                bool
	retryFor, stall, wait     time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.server, "server", nats.DefaultURL, "NATS server URL(s), comma separated")
	flag.StringVar(&o.bucket, "bucket", "", "Object Store bucket")
	flag.StringVar(&o.name, "name", "", "object name")
	flag.StringVar(&o.out, "out", "", "file to write the object to")
	flag.BoolVar(&o.list, "list", false, "print the bucket's objects as a JSON array")
	flag.BoolVar(&o.info, "info", false, "print the object's info only")
	flag.DurationVar(&o.retryFor, "retry-for", 30*time.Second, "how long to keep retrying timeouts")
	flag.DurationVar(&o.stall, "stall", 10*time.Second, "give up an attempt when no data arrived for this long")
	flag.DurationVar(&o.wait, "wait", 5*time.Second, "timeout of one JetStream API request")
	flag.Parse()

	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "objget: %v\n", err)
		if errors.Is(err, errNotFound) {
			os.Exit(exitNotFound)
		}
		os.Exit(1)
	}
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "objget: %s\n", msg)
	flag.Usage()
	os.Exit(2)
}

func run(o options) error {
	if flag.NArg() > 0 {
		usage("unexpected arguments: " + strings.Join(flag.Args(), " "))
	}
	if o.bucket == "" {
		usage("-bucket is required")
	}
	switch {
	case o.list:
		if o.info || o.out != "" || o.name != "" {
			usage("-list takes no -name, -info or -out")
		}
	case o.info:
		if o.name == "" || o.out != "" {
			usage("-info needs -name and takes no -out")
		}
	default:
		if o.name == "" || o.out == "" {
			usage("-name and -out are required (or -info, or -list)")
		}
	}

	nc, err := nats.Connect(o.server, nats.Name("objget"), nats.Timeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("connect %s: %w", o.server, err)
	}
	defer nc.Close()
	js, err := nc.JetStream(nats.MaxWait(o.wait))
	if err != nil {
		return err
	}

	var out interface{}
	err = retry(o.retryFor, func() error {
		obs, err := openBucket(js, o.bucket)
		if err != nil {
			return err
		}
		switch {
		case o.list:
			out, err = list(obs, o.wait)
		case o.info:
			out, err = objectInfo(js, obs, o.bucket, o.name)
		default:
			out, err = get(js, obs, o)
		}
		return err
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func openBucket(js nats.JetStreamContext, bucket string) (nats.ObjectStore, error) {
	obs, err := js.ObjectStore(bucket)
	if errors.Is(err, nats.ErrStreamNotFound) {
		return nil, fmt.Errorf("bucket %q %w", bucket, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %q: %w", bucket, err)
	}
	return obs, nil
}

// retry calls fn until it succeeds, fails with an error that is not a timeout, or budget ran out.
func retry(budget time.Duration, fn func() error) error {
	deadline := time.Now().Add(budget)
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) {
			return err
		}
		if time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		fmt.Fprintf(os.Stderr, "objget: attempt %d: %v; retrying in %v\n", attempt, err, backoff)
		time.Sleep(backoff)
		if backoff *= 2; backoff > 4*time.Second {
			backoff = 4 * time.Second
		}
	}
}

var errStalled = errors.New("no data arrived in time")

func retryable(err error) bool {
	if errors.Is(err, errNotFound) || errors.Is(err, nats.ErrDigestMismatch) {
		return false
	}
	if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, errStalled) || errors.Is(err, nats.ErrNoResponders) {
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	// 503: JetStream temporarily unavailable, e.g. during a leader election.
	var jerr nats.JetStreamError
	if errors.As(err, &jerr) && jerr.APIError() != nil && jerr.APIError().Code == 503 &&
		!errors.Is(err, nats.ErrJetStreamNotEnabled) && !errors.Is(err, nats.ErrJetStreamNotEnabledForAccount) {
		return true
	}
	return false
}

func list(obs nats.ObjectStore, wait time.Duration) ([]info, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	objs, err := obs.List(nats.Context(ctx))
	if errors.Is(err, nats.ErrNoObjectsFound) {
		return []info{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	res := make([]info, 0, len(objs))
	for _, oi := range objs {
		res = append(res, toInfo(oi, nil))
	}
	return res, nil
}

func objectInfo(js nats.JetStreamContext, obs nats.ObjectStore, bucket, name string) (info, error) {
	oi, err := obs.GetInfo(name)
	if errors.Is(err, nats.ErrObjectNotFound) {
		return info{}, fmt.Errorf("object %q in bucket %q %w", name, bucket, errNotFound)
	}
	if err != nil {
		return info{}, fmt.Errorf("info %q: %w", name, err)
	}
	md, err := rawMetadata(js, bucket, name)
	if err != nil {
		return info{}, err
	}
	return toInfo(oi, md), nil
}

// rawMetadata reads the object's `metadata` map, which nats.go 1.22's ObjectInfo drops.
func rawMetadata(js nats.JetStreamContext, bucket, name string) (map[string]string, error) {
	subj := fmt.Sprintf("$O.%s.M.%s", bucket, base64.URLEncoding.EncodeToString([]byte(name)))
	m, err := js.GetLastMsg("OBJ_"+bucket, subj)
	if err != nil {
		return nil, fmt.Errorf("meta of %q: %w", name, err)
	}
	var raw struct {
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(m.Data, &raw); err != nil {
		return nil, fmt.Errorf("meta of %q: %w", name, err)
	}
	return raw.Metadata, nil
}

func toInfo(oi *nats.ObjectInfo, md map[string]string) info {
	return info{
		Name: oi.Name, Bucket: oi.Bucket, NUID: oi.NUID, Size: oi.Size, Chunks: oi.Chunks,
		Digest: oi.Digest, ModTime: oi.ModTime, Description: oi.Description,
		Headers: oi.Headers, Metadata: md, Deleted: oi.Deleted,
	}
}

// get fetches the object into a temporary file beside o.out and renames it on success.
func get(js nats.JetStreamContext, obs nats.ObjectStore, o options) (*getResult, error) {
	// nats.go's Get stops its reads on ctx; cancel ends an abandoned attempt's ordered consumer.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := obs.Get(o.name, nats.Context(ctx))
	if errors.Is(err, nats.ErrObjectNotFound) {
		return nil, fmt.Errorf("object %q in bucket %q %w", o.name, o.bucket, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", o.name, err)
	}
	defer res.Close()
	oi, err := res.Info() // after links are followed: the object whose bytes these are
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", o.name, err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(o.out), "."+filepath.Base(o.out)+".objget-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	n, err := io.Copy(tmp, &stallReader{res: res, stall: o.stall, cancel: cancel})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("get %q after %d bytes: %w", o.name, n, err)
	}
	if uint64(n) != oi.Size {
		return nil, fmt.Errorf("get %q: got %d bytes, info says %d", o.name, n, oi.Size)
	}
	if err := os.Rename(tmp.Name(), o.out); err != nil {
		return nil, err
	}

	sum, err := fileSHA256(o.out)
	if err != nil {
		return nil, err
	}
	md, err := rawMetadata(js, oi.Bucket, oi.Name)
	if err != nil {
		return nil, err
	}
	return &getResult{info: toInfo(oi, md), Out: o.out, SHA256: sum}, nil
}

// stallReader works around nats.go 1.22's objResult.Read, which with a context returns (0, nil)
// every 2 s while no data arrives and, once an error was recorded (a failed chunk, a cancelled
// context), returns (0, nil) for ever instead of the error.
type stallReader struct {
	res    nats.ObjectResult
	stall  time.Duration
	cancel context.CancelFunc
	last   time.Time
}

func (r *stallReader) Read(p []byte) (int, error) {
	if r.last.IsZero() {
		r.last = time.Now()
	}
	for {
		n, err := r.res.Read(p)
		if n > 0 || err != nil {
			r.last = time.Now()
			return n, err
		}
		if err := r.res.Error(); err != nil {
			return 0, err
		}
		if time.Since(r.last) > r.stall {
			r.cancel()
			return 0, fmt.Errorf("%w (%v without data)", errStalled, r.stall)
		}
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
