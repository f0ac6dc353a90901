package exchange

import "errors"

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
