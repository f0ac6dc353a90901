package storage

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
)

// ErrNotEmpty is returned by Load when the store already holds records.
var ErrNotEmpty = errors.New("de database bevat al records")

// Load copies records into an empty store in one transaction, with COPY instead of an
// INSERT per record: what a migration from another store needs. next returns the records
// one by one, in any order, and io.EOF after the last; Load returns how many it copied. On
// any error nothing is copied. Load is not bounded by the call time-out: it takes as long as
// the records take.
func (p *Postgres) Load(ctx context.Context, next func() (key, value []byte, err error)) (int64, error) {
	tx, err := p.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		return 0, fmt.Errorf("database: %w", err)
	}
	defer tx.Rollback(context.Background()) // after Commit: does nothing
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM kv)`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("database: %w", err)
	}
	if exists {
		return 0, ErrNotEmpty
	}
	var srcErr error
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"kv"}, []string{"key", "value"}, pgx.CopyFromFunc(func() ([]any, error) {
		k, v, err := next()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			srcErr = err
			return nil, err
		}
		if v == nil {
			v = []byte{} // NOT NULL: an empty value
		}
		return []any{k, v}, nil
	}))
	if srcErr != nil {
		return 0, srcErr
	}
	if err != nil {
		return 0, fmt.Errorf("database: records kopiëren: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("database: records vastleggen: %w", err)
	}
	return n, nil
}
