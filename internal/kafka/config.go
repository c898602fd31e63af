// Package kafka turns hookd's Kafka settings (brokers, SASL, TLS) into a
// sarama configuration, and classifies connection failures into messages
// an operator can act on.
package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// SASL mechanisms hookd speaks.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// DefaultVersion is the Kafka protocol version hookd asks for unless told
// otherwise; brokers from 2.8 on (including 3.x and 4.x) accept it.
var DefaultVersion = sarama.V3_9_0_0

// Config describes how to reach a Kafka cluster.
type Config struct {
	Brokers  []string
	ClientID string
	// Version is the Kafka protocol version, e.g. "3.9.0"; empty means
	// DefaultVersion.
	Version string
	SASL    SASLConfig
	TLS     TLSConfig
	// DialTimeout bounds connecting and authenticating to one broker.
	DialTimeout time.Duration
}

// SASLConfig selects SASL authentication; an empty Mechanism means none.
type SASLConfig struct {
	Mechanism string
	Username  string
	Password  string
}

// TLSConfig selects TLS; CAFile adds a private CA to the system roots,
// CertFile and KeyFile present a client certificate.
type TLSConfig struct {
	Enabled            bool
	CAFile             string
	CertFile           string
	KeyFile            string
	InsecureSkipVerify bool
}

// Validate checks the settings without contacting a broker. Errors name
// the setting at fault.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka brokers: at least one broker address is required")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") || strings.HasPrefix(b, ":") || strings.HasSuffix(b, ":") {
			return fmt.Errorf("kafka brokers: %q is not host:port", b)
		}
	}
	switch c.SASL.Mechanism {
	case "":
	case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		if c.SASL.Username == "" {
			return fmt.Errorf("kafka sasl username: required with mechanism %s", c.SASL.Mechanism)
		}
	default:
		return fmt.Errorf("kafka sasl mechanism: %q is not one of %s, %s, %s", c.SASL.Mechanism, MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("kafka tls: a client certificate needs both a cert file and a key file")
	}
	if c.Version != "" {
		if _, err := sarama.ParseKafkaVersion(c.Version); err != nil {
			return fmt.Errorf("kafka version: %w", err)
		}
	}
	return nil
}

// Sarama builds a sarama configuration from c. Producer and consumer
// settings are left at their defaults for the caller to tune.
func (c Config) Sarama() (*sarama.Config, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	sc := sarama.NewConfig()
	sc.Version = DefaultVersion
	if c.Version != "" {
		v, _ := sarama.ParseKafkaVersion(c.Version) // checked by Validate
		sc.Version = v
	}
	if c.ClientID != "" {
		sc.ClientID = c.ClientID
	} else {
		sc.ClientID = "hookd"
	}
	if c.DialTimeout > 0 {
		sc.Net.DialTimeout = c.DialTimeout
		sc.Net.ReadTimeout = c.DialTimeout
		sc.Net.WriteTimeout = c.DialTimeout
	}

	if c.SASL.Mechanism != "" {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.Version = sarama.SASLHandshakeV1
		sc.Net.SASL.User = c.SASL.Username
		sc.Net.SASL.Password = c.SASL.Password
		switch c.SASL.Mechanism {
		case MechanismPlain:
			sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case MechanismSCRAMSHA256:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			sc.Net.SASL.SCRAMClientGeneratorFunc = newSCRAMClient(sha256Generator)
		case MechanismSCRAMSHA512:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			sc.Net.SASL.SCRAMClientGeneratorFunc = newSCRAMClient(sha512Generator)
		}
	}

	if c.TLS.Enabled {
		tc, err := c.TLS.build()
		if err != nil {
			return nil, err
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return sc, nil
}

func (t TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls ca file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls ca file: %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	// An explicit, named switch: only for test clusters with throwaway certificates.
	tc.InsecureSkipVerify = t.InsecureSkipVerify //nolint:gosec // opt-in by configuration
	return tc, nil
}
