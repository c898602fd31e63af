// Package devkafka runs the Kafka-protocol broker of `hookd dev`: one
// in-process github.com/twmb/franz-go/pkg/kfake broker on 127.0.0.1 that
// any Kafka client (hookd's sarama, franz-go, kcat, the Java client) can
// produce to and consume from, with its state kept in a directory.
//
// Persistence is kfake's own (kfake.DataDir): every produced batch is
// appended to a segment file of its partition before the produce is
// answered, every committed consumer-group offset is appended to a groups
// log, and topics are rewritten whenever they change. A restart reloads
// all of it, so records that hookd had not consumed yet and pending
// retries in the retry tier topics survive a restart. A kill -9 loses
// nothing either: the files are written (to the page cache) before the
// client hears back, and on load a torn last entry is dropped, which only
// a client that was never answered could have written. Writes are not
// fsynced (kfake.SyncWrites), as real Kafka does by default: a dev broker
// need not survive a power cut. Records older than a topic's retention
// (Kafka's default of 7 days) are dropped hourly, as a broker would.
package devkafka

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// SASL mechanisms the broker accepts when SASL is on; hookd dev's own
// clients use the first.
var Mechanisms = []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"}

// Options configure the broker.
type Options struct {
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// DataDir keeps the broker's state; it is created if missing. Empty
	// keeps everything in memory (tests).
	DataDir string
	// User and Password, when User is set, turn SASL on: clients must log
	// in as that user with any of Mechanisms.
	User, Password string
	// Logger receives the broker's warnings and errors; nil discards them.
	Logger *slog.Logger
}

// Broker is a running broker.
type Broker struct {
	c    *kfake.Cluster
	addr string
	stop chan struct{}
	// mu keeps retention and Close apart: a kfake call made during or
	// after Close would wait forever.
	mu     sync.Mutex
	closed bool
}

// retentionInterval is how often records older than the topics'
// retention (Kafka's default, 7 days, unless a topic says otherwise) are
// dropped. kfake only does so on its own for topics that set a retention,
// and hookd's own topics set none.
const retentionInterval = time.Hour

// Start starts the broker, reloading the state in opts.DataDir.
func Start(opts Options) (*Broker, error) {
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(opts.Port),
		kfake.ClusterID("hookd-dev"),
		// Kafka creates a topic on first use by default; a producer
		// trying hookd out should not have to create one first.
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(1),
	}
	if opts.Logger != nil {
		kopts = append(kopts, kfake.WithLogger(slogLogger{opts.Logger}))
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("kafka data directory: %w", err)
		}
		// kfake reloads its SASL users from the directory over the ones
		// it is given; the flags of this run, not the last one, must say
		// who may log in.
		if err := os.Remove(filepath.Join(opts.DataDir, "sasl.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("kafka data directory: %w", err)
		}
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	if opts.User != "" {
		kopts = append(kopts, kfake.EnableSASL())
		for _, m := range Mechanisms {
			kopts = append(kopts, kfake.Superuser(m, opts.User, opts.Password))
		}
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("kafka port %d is in use (is another hookd dev or Kafka running? choose another with --kafka-port): %w", opts.Port, err)
		}
		return nil, fmt.Errorf("start the embedded kafka broker: %w", err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) != 1 {
		c.Close()
		return nil, fmt.Errorf("embedded kafka broker: %d listeners, want 1", len(addrs))
	}
	b := &Broker{c: c, addr: addrs[0], stop: make(chan struct{})}
	go b.retain()
	return b, nil
}

func (b *Broker) retain() {
	t := time.NewTicker(retentionInterval)
	defer t.Stop()
	for {
		b.mu.Lock()
		if !b.closed {
			b.c.ApplyRetention()
		}
		b.mu.Unlock()
		select {
		case <-t.C:
		case <-b.stop:
			return
		}
	}
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and saves its state. Safe to call more than once.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	close(b.stop)
	b.c.Close()
}

// slogLogger passes kfake's warnings and errors on; its info and debug
// lines describe every request, too many for a terminal.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	switch level {
	case kfake.LogLevelError:
		s.l.Error("kafka: " + msg)
	case kfake.LogLevelWarn:
		s.l.Warn("kafka: " + msg)
	}
}
