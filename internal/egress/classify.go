package egress

import (
	"context"
	"errors"
	"net"
	"os"

	"github.com/hookd/hookd/internal/domain"
)

// Classify maps an error from Do to the outcome the attempt log records:
//
//   - domain.OutcomeBlocked: the guard refused every address (*BlockedError).
//   - domain.OutcomeTimeout: the attempt's deadline (or the caller's) ran
//     out, or a phase timeout fired (TLS handshake, response headers, a
//     socket deadline).
//   - domain.OutcomeConnectionError: everything else that kept the
//     exchange from completing: DNS failure, refused or reset
//     connections, TLS and certificate errors, malformed responses, an
//     invalid URL.
//
// A DNS lookup that timed out on its own (the resolver's limit, not the
// attempt's) counts as a connection error: the name did not resolve. A
// canceled context (shutdown) also counts as a connection error; a
// dispatcher that is stopping should check its own context and not record
// the attempt at all. Classify(nil) is "".
func Classify(err error) domain.Outcome {
	if err == nil {
		return ""
	}
	var be *BlockedError
	if errors.As(err, &be) {
		return domain.OutcomeBlocked
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return domain.OutcomeTimeout
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return domain.OutcomeConnectionError
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return domain.OutcomeTimeout
	}
	return domain.OutcomeConnectionError
}
