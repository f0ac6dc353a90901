package codes

// Rejection is why one file or message was refused: a Code and a Dutch detail
// that names the offending field, as the verwerkingsverslag shows them.
type Rejection struct {
	Code   Code
	Detail string
}

// Error makes a Rejection usable as an error, so callers can pass it up and find it with errors.As.
func (r *Rejection) Error() string {
	if r.Detail == "" {
		return string(r.Code) + ": " + r.Code.Omschrijving()
	}
	return string(r.Code) + ": " + r.Code.Omschrijving() + ": " + r.Detail
}
