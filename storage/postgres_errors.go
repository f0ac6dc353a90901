package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnavailable is a call the database could not take: it was down, restarting, failing
// over, or the connection broke. Nothing of a transaction that failed with it before its
// COMMIT was stored; the caller may try again in a moment.
var ErrUnavailable = errors.New("de database is even niet bereikbaar; probeer het over enkele ogenblikken opnieuw")

// ErrNoAnswer is a call the database did not answer within the store's time-out.
var ErrNoAnswer = errors.New("de database antwoordde niet op tijd; probeer het later opnieuw")

// dbErr says in Dutch what kind of failure err is, keeping err (and its PostgreSQL code) in
// the chain for the log and for errors.Is.
func dbErr(err error) error {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("database: %w", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w (%w)", ErrNoAnswer, err)
	case errors.As(err, &pe):
		if connectionLost(pe) {
			return fmt.Errorf("%w (%w)", ErrUnavailable, err)
		}
		return fmt.Errorf("database: %w", err)
	}
	// Not an answer of the server: the connection (refused, reset, closed).
	return fmt.Errorf("%w (%w)", ErrUnavailable, err)
}

// connectionLost tells whether the server ended the connection rather than refused a
// statement. 08: connection exception; 57P01-57P03: shut down by an administrator, a crash,
// or not accepting connections yet.
func connectionLost(pe *pgconn.PgError) bool {
	return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
}
