package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/hookd/hookd/internal/domain"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "net/http: timeout awaiting response headers" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	blocked := &BlockedError{Host: "x", IP: netip.MustParseAddr("10.0.0.1"), Reason: "private"}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		name string
		err  error
		want domain.Outcome
	}{
		{"nil", nil, ""},
		{"blocked", blocked, domain.OutcomeBlocked},
		{"blocked, wrapped", fmt.Errorf("egress: POST http://x: %w", &net.OpError{Op: "dial", Err: blocked}), domain.OutcomeBlocked},
		{"deadline", context.DeadlineExceeded, domain.OutcomeTimeout},
		{"deadline, wrapped", fmt.Errorf("egress: no complete response: %w (%w)", context.DeadlineExceeded, reset), domain.OutcomeTimeout},
		{"socket deadline", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, domain.OutcomeTimeout},
		{"header timeout", fmt.Errorf("egress: %w", timeoutErr{}), domain.OutcomeTimeout},
		{"dns lookup cut by the deadline", &net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true, UnwrapErr: context.DeadlineExceeded}, domain.OutcomeTimeout},
		{"dns not found", &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}, domain.OutcomeConnectionError},
		{"dns server timeout", &net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true}, domain.OutcomeConnectionError},
		{"refused", refused, domain.OutcomeConnectionError},
		{"reset", reset, domain.OutcomeConnectionError},
		{"tls record", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, domain.OutcomeConnectionError},
		{"unknown authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, domain.OutcomeConnectionError},
		{"canceled", context.Canceled, domain.OutcomeConnectionError},
		{"invalid url", fmt.Errorf("%w: x", ErrInvalidURL), domain.OutcomeConnectionError},
		{"anything else", errors.New("malformed HTTP response"), domain.OutcomeConnectionError},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("%s: Classify(%v) = %q, want %q", tt.name, tt.err, got, tt.want)
		}
	}
}

// The outcome strings are the domain's: the attempt log and the API filter
// on them.
func TestClassifyOutcomesAreDomainOutcomes(t *testing.T) {
	known := map[domain.Outcome]bool{}
	for _, o := range domain.Outcomes {
		known[o] = true
	}
	for _, o := range []domain.Outcome{Classify(context.DeadlineExceeded), Classify(errors.New("x")), Classify(&BlockedError{})} {
		if !known[o] {
			t.Errorf("outcome %q is not a domain outcome", o)
		}
	}
}
