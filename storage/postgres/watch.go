package postgres

import (
	"context"
	"fmt"
)

// notifyChannel is the channel the endpoints trigger notifies.
const notifyChannel = "hookd_endpoints"

// WatchEndpoints listens for endpoint changes on a connection of its own.
// Notifications sent while no one listens are lost, which is why callers
// reload in full after ready and whenever this returns.
func (s *Store) WatchEndpoints(ctx context.Context, ready func(), onChange func(endpointID string)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("watch endpoints: %w", err)
	}
	// A LISTENing connection must not go back to the pool.
	pc := conn.Hijack()
	defer func() { _ = pc.Close(context.WithoutCancel(ctx)) }()
	if _, err := pc.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("watch endpoints: %w", err)
	}
	if ready != nil {
		ready()
	}
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watch endpoints: %w", err)
		}
		onChange(n.Payload)
	}
}
