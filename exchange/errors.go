package exchange

import (
	"errors"
	"fmt"
	"syscall"
)

// Errors every door maps to its own answer (SFTP status, exit code, TUI message). Wrap them
// with a Dutch sentence that tells the person what to do.
var (
	ErrDenied   = errors.New("geen toestemming")
	ErrNotFound = errors.New("niet gevonden")
	ErrExists   = errors.New("bestaat al")
	ErrInvalid  = errors.New("ongeldige invoer")
	ErrTooLarge = errors.New("bestand is te groot")
	ErrNoSpace  = errors.New("de opslag van het knooppunt is vol")
)

// A full disk or a used-up quota of the hub's user (ENOSPC, EDQUOT) is the one storage error
// a person can act on: it says so plainly, at every door. storeErr and mapNoSpace are the two
// uses, one for a door that refuses, one for the engine that waits.

// diskFull tells whether err is a full disk or quota.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// storeErr turns a full disk into ErrNoSpace so every door can say so plainly.
func storeErr(what string, err error) error {
	if diskFull(err) {
		return fmt.Errorf("%w: %s is niet opgeslagen; probeer het later opnieuw of meld het de beheerder", ErrNoSpace, what)
	}
	return fmt.Errorf("%s opslaan: %w", what, err)
}

// mapNoSpace turns a full disk into ErrNoSpace, so the upload waits for space instead of
// failing: nothing accepted is lost.
func mapNoSpace(err error) error {
	if diskFull(err) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}
