package ebms

import "fmt"

// ebMS 2.0 error codes (ebMS 2.0 §6.7.2 and §6.7.3).
const (
	CodeValueNotRecognized = "ValueNotRecognized"
	CodeNotSupported       = "NotSupported"
	CodeInconsistent       = "Inconsistent"
	CodeOtherXML           = "OtherXml"
	CodeDeliveryFailure    = "DeliveryFailure"
	CodeTimeToLiveExpired  = "TimeToLiveExpired"
	CodeSecurityFailure    = "SecurityFailure"
	CodeMimeProblem        = "MimeProblem"
	CodeUnknown            = "Unknown"
)

// Severities of an ebMS error.
const (
	SeverityError   = "Error"
	SeverityWarning = "Warning"
)

// Error is one ebMS error: what a MessageError reports. Every error about a message this package
// returns is an *Error, so the door can answer with BuildMessageError.
type Error struct {
	Code        string // one of the Code… constants
	Severity    string // SeverityError unless said otherwise
	Location    string // the element or attribute at fault, e.g. "eb:MessageHeader/eb:CPAId"
	Description string // Dutch, for the partner's beheerder
}

func (e *Error) Error() string {
	if e.Location != "" {
		return fmt.Sprintf("%s (%s): %s", e.Code, e.Location, e.Description)
	}
	return e.Code + ": " + e.Description
}

func newError(code, location, format string, args ...any) *Error {
	return &Error{Code: code, Severity: SeverityError, Location: location, Description: fmt.Sprintf(format, args...)}
}
