package kafka

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

func TestValidateNamesTheBadSetting(t *testing.T) {
	ok := Config{Brokers: []string{"127.0.0.1:9092"}}
	cases := []struct {
		name string
		edit func(*Config)
		want string // substring of the error; empty means valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "kafka brokers"},
		{"broker without port", func(c *Config) { c.Brokers = []string{"localhost"} }, `"localhost" is not host:port`},
		{"broker with empty host", func(c *Config) { c.Brokers = []string{":9092"} }, "not host:port"},
		{"unknown mechanism", func(c *Config) { c.SASL = SASLConfig{Mechanism: "GSSAPI", Username: "u"} }, "kafka sasl mechanism"},
		{"lower-case mechanism", func(c *Config) { c.SASL = SASLConfig{Mechanism: "plain", Username: "u"} }, "kafka sasl mechanism"},
		{"mechanism without user", func(c *Config) { c.SASL = SASLConfig{Mechanism: MechanismSCRAMSHA512} }, "kafka sasl username"},
		{"cert without key", func(c *Config) { c.TLS = TLSConfig{Enabled: true, CertFile: "c.pem"} }, "both a cert file and a key file"},
		{"bad version", func(c *Config) { c.Version = "three" }, "kafka version"},
		{"good version", func(c *Config) { c.Version = "3.9.0" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSaramaMechanisms(t *testing.T) {
	for mech, want := range map[string]sarama.SASLMechanism{
		MechanismPlain:       sarama.SASLTypePlaintext,
		MechanismSCRAMSHA256: sarama.SASLTypeSCRAMSHA256,
		MechanismSCRAMSHA512: sarama.SASLTypeSCRAMSHA512,
	} {
		sc, err := Config{Brokers: []string{"b:1"}, SASL: SASLConfig{Mechanism: mech, Username: "u", Password: "p"}}.Sarama()
		if err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		if !sc.Net.SASL.Enable || sc.Net.SASL.Mechanism != want {
			t.Errorf("%s: SASL enable=%v mechanism=%s, want true %s", mech, sc.Net.SASL.Enable, sc.Net.SASL.Mechanism, want)
		}
		if mech != MechanismPlain && sc.Net.SASL.SCRAMClientGeneratorFunc == nil {
			t.Errorf("%s: no SCRAM client", mech)
		}
	}
}

func TestTLSRejectsBadCAFile(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{"missing": filepath.Join(dir, "nope.pem"), "not PEM": junk} {
		_, err := Config{Brokers: []string{"b:1"}, TLS: TLSConfig{Enabled: true, CAFile: file}}.Sarama()
		if err == nil || !strings.Contains(err.Error(), "kafka tls ca file") {
			t.Errorf("%s CA file: err = %v, want one naming the ca file", name, err)
		}
	}
}

func TestSCRAMConversationStarts(t *testing.T) {
	c := newSCRAMClient(sha512Generator)()
	if err := c.Begin("user", "pencil", ""); err != nil {
		t.Fatal(err)
	}
	first, err := c.Step("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first, "n,,n=user,r=") {
		t.Fatalf("client-first message %q", first)
	}
	if c.Done() {
		t.Fatal("conversation done after one step")
	}
}
