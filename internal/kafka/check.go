package kafka

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/IBM/sarama"
)

// Check connects to the cluster, authenticates and fetches metadata, and
// returns an error that says what went wrong in terms of the settings:
// unreachable brokers, rejected credentials or an untrusted certificate.
func Check(ctx context.Context, c Config) error {
	sc, err := c.Sarama()
	if err != nil {
		return err
	}
	// A check answers once; retrying a rejected password only delays the answer.
	sc.Metadata.Retry.Max = 0
	done := make(chan error, 1)
	go func() {
		client, err := sarama.NewClient(c.Brokers, sc)
		if err == nil {
			err = client.Close()
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		return fmt.Errorf("kafka %s: %w", strings.Join(c.Brokers, ","), ctx.Err())
	}
	if err == nil {
		return nil
	}
	return Explain(c, err)
}

// Explain rewrites a sarama connection error into one that names the
// setting at fault. Errors it does not recognize are wrapped unchanged.
func Explain(c Config, err error) error {
	brokers := strings.Join(c.Brokers, ",")
	var uae x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var opErr *net.OpError
	switch {
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed) || strings.Contains(err.Error(), "SASL Authentication failed"):
		return &AuthError{Brokers: brokers, Mechanism: c.SASL.Mechanism, Username: c.SASL.Username, Err: err}
	case errors.As(err, &uae) || errors.As(err, &hostErr) || strings.Contains(err.Error(), "certificate"):
		return fmt.Errorf("kafka %s: TLS certificate not trusted (check the CA file or server name): %w", brokers, err)
	case errors.As(err, &opErr) || errors.Is(err, sarama.ErrOutOfBrokers):
		return fmt.Errorf("kafka %s: cannot reach any broker (check the addresses, the listener's protocol and TLS setting): %w", brokers, err)
	}
	return fmt.Errorf("kafka %s: %w", brokers, err)
}

// AuthError reports credentials the broker rejected.
type AuthError struct {
	Brokers   string
	Mechanism string
	Username  string
	Err       error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("kafka %s: authentication failed for user %q with %s: check the username and password", e.Brokers, e.Username, e.Mechanism)
}

func (e *AuthError) Unwrap() error { return e.Err }
