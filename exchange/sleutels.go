package exchange

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Every key of the store, in one place: what the store holds and in which order. The files
// of the domain build keys with key() from these prefixes and nothing else. One prefix per
// kind; ids are fixed-width big-endian so that key order is id order, and times are
// big-endian unix nanoseconds so that key order is time order.

// Organisations, accounts and their keys (accounts.go, organisaties.go, oin.go, quota.go).
const (
	kOrg      = "org/"     // org/<code>
	kAccount  = "acct/"    // acct/<name>
	kKeyIndex = "idx/key/" // idx/key/<sha256 fingerprint> -> account name
	// kOIN indexes organisations by OIN: idx/oin/<oin> -> organisation code. The hub's own
	// OIN is not in it: it is configuration (Config.OIN).
	kOIN = "idx/oin/"
	// kQuota: the bytes an organisation's uploads wrote on a day: quota/<org>/<yyyy-mm-dd>.
	kQuota = "quota/"
)

// The path of an upload through the engine, in the order the data flows.
const (
	// kPending keys the files in aanleveren/ that are not uploads yet, per account:
	// pend/<org>/<product>/<account>/<name>. A staged file is its uploader's alone: a
	// colleague of the same organisation neither sees it nor appends to, renames or deletes
	// it (issue 16; TestColleagueCanTakeOverAStagedFile). Before that the key had no account.
	kPending  = "pend/"
	kUpload   = "upload/"    // upload/<id>
	kQueue    = "queue/"     // queue/<id>: uploads not yet final
	kUploads  = "idx/upl/"   // idx/upl/<org>/<product>/<time>/<id>
	kProgress = "prog/"      // prog/<upload>: how far an unfinished upload got, for an exact redo
	kFout     = "fout/"      // fout/<upload>/<entry>: one rejected file of an upload, for its report
	kMessage  = "msg/"       // msg/<id>
	kRef      = "idx/ref/"   // idx/ref/<zender>/<referentienummer> -> message id (IB016)
	kRecvRef  = "idx/rref/"  // idx/rref/<org>/<product>/<referentienummer>/<message id>: Restore
	kRoute    = "route/"     // route/<org>/<product>/<exchange>
	kHold     = "idx/hold/"  // idx/hold/<mailbox>/<product>/<exchange>/<delivery id>: waiting for a Portaal route
	kDelivery = "dlv/"       // dlv/<id>
	kInbox    = "idx/inbox/" // idx/inbox/<org>/<product>/<time>/<id>
	kDlvName  = "idx/dname/" // idx/dname/<org>/<product>/<name> -> delivery id
	kGelezen  = "idx/gel/"   // idx/gel/<gelezen time>/<delivery id>: files that leave ophalen/ 168 h later
	kHistQ    = "histq/"     // histq/<delivery id> -> pendingHistory
	kExpire   = "idx/exp/"   // idx/exp/<received>/<upload>: purge 60 days after arrival
	kETA      = "eta/"       // eta/<size class>: bytes per second of recent uploads
)

// The berichtenlog's indexes.
const (
	kLog      = "idx/log2/"  // idx/log2/<org>/<product>/<time>/<group id> -> members and summaries (berichtenlog_groep.go)
	kLogCount = "cnt/log/"   // cnt/log/<org>/<product>: entries in a berichtenlog, for its total
	kLogDelta = "cnt/logd/"  // cnt/logd/<org>/<product>/<random>: a change to that count, not yet folded in (berichtenlog_telling.go)
	kLogFold  = "cnt/fold"   // the folds of those changes so far: a fold that sees it raised reads again
	kLogXRef  = "idx/lxref/" // idx/lxref/<org>/<product>/<crossRefnummer>/<message id>: berichtenlog filter
	kLogV     = "idx/logv2/" // idx/logv2/<org>/<product>/<field><value>/<time>/<group id> -> members with it: berichtenlog filter
	// Store version 1 had an entry per message: idx/log/<org>/<product>/<time>/<id> and
	// idx/logv/<org>/<product>/<field><value>/<time>/<id> -> summary (version_log2.go).
	kLogV1  = "idx/log/"
	kLogVV1 = "idx/logv/"
)

// Digikoppeling: CPAs, the inbound duplicate elimination and the outbound queue.
const (
	kCPA       = "cpa/"           // cpa/<cpaid> -> CPA
	kCPAOrg    = "idx/cpaorg/"    // idx/cpaorg/<org>/<cpaid>: the CPAs of an organisation
	kEbIn      = "ebin/"          // ebin/<from OIN>/<MessageId> -> received: duplicate elimination
	kEbInExp   = "idx/ebinexp/"   // idx/ebinexp/<until>/<from OIN>/<MessageId>: when to forget it
	kSend      = "send/"          // send/<id> -> Send
	kSendDue   = "idx/sendq/"     // idx/sendq/<next try>/<id>: sends waiting for an attempt or an Acknowledgment
	kSendMID   = "idx/sendmid/"   // idx/sendmid/<ebMS MessageId> -> send id
	kSendMsg   = "idx/sendmsg/"   // idx/sendmsg/<message id> -> send id
	kSendRoute = "idx/sendroute/" // idx/sendroute/<org>/<product>/<exchange>/<id>: not yet bevestigd
	kSendDone  = "idx/senddone/"  // idx/senddone/<done>/<id>: ended sends, purged after Bewaartijd
)

// More than one node on one store (knooppunten.go, claims.go).
const (
	kNode  = "node/"  // node/<instance> -> nodeRecord: a running hub process and its heartbeat
	kLease = "lease/" // lease/<job> -> holder: which node runs a periodic job
	kClaim = "claim/" // claim/<upload id> -> holder: the node processing the upload
	// kSlot: an admission slot (admission_shared.go), slot/t/<instance>/<n> while the file
	// is written, slot/u/<upload id> once it is an upload -> slotRecord.
	kSlot = "slot/"
)

// The hub itself.
const (
	kAudit    = "audit/"       // audit/<seq>
	kAuditTip = "audithead"    // hash and seq of the newest audit entry
	kVersion  = "meta/version" // the store's format version, in decimal
	kProbe    = "probe/ready"  // the record the readiness probe writes and reads back; it holds nothing else
	// kSendDoneIndexed marks a store whose ended sends all have their idx/senddone entry: sends
	// that ended before that index existed (5 Dec 2026) get one once (indexEndedSends).
	kSendDoneIndexed = "meta/senddone-indexed"
)

func pendingKey(org string, product Product, account, name string) []byte {
	return key(kPending, org, product, account, name)
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func timeKey(t time.Time) []byte { return be64(uint64(t.UnixNano())) }

func key(parts ...any) []byte {
	// One allocation of the right size: every key of a message's berichtenlog entries is
	// built here, and growing the slice part by part cost several allocations per key.
	n := len(parts)
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			n += len(v)
		case Product:
			n += len(v)
		case uint64, time.Time:
			n += 8
		case []byte:
			n += len(v)
		}
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 && b[len(b)-1] != '/' {
			b = append(b, '/')
		}
		switch v := p.(type) {
		case string:
			b = append(b, v...)
		case Product:
			b = append(b, v...)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case time.Time:
			b = binary.BigEndian.AppendUint64(b, uint64(v.UnixNano()))
		case []byte:
			b = append(b, v...)
		default:
			panic("exchange: unsupported key part")
		}
	}
	return b
}

// idFromKey reads the id that ends an index key.
func idFromKey(k []byte) (uint64, error) {
	if len(k) < 8 {
		return 0, fmt.Errorf("index key %q is te kort", k)
	}
	var id uint64
	for _, b := range k[len(k)-8:] {
		id = id<<8 | uint64(b)
	}
	return id, nil
}
