package sshserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"

	"knooppunt/exchange"
	"knooppunt/storage"
)

// The folders of a product in the SFTP tree.
const (
	folderAanleveren = "aanleveren"
	folderOphalen    = "ophalen"
	folderVerslagen  = "verslagen"
	folderNieuw      = "nieuw" // ophalen/nieuw: only files not yet gelezen
)

var productFolders = []string{folderAanleveren, folderOphalen, folderVerslagen}

// mailbox is one SFTP session's view of the hub: the tree of the products its account may
// use. Every request is checked here against the tree and by exchange against the account.
type mailbox struct {
	hub     *exchange.Hub
	p       *exchange.Principal
	log     *slog.Logger
	dirTime time.Time
	guard   *guard // the connection's time-outs; nil-safe
	// handles caps the files and directories open (nil: no cap); handleCount is this
	// session's share, guarded by handles' lock.
	handles     *handleLimiter
	handleCount handleCount
	obs         Observer
	// products lists the products whose mailbox the account may use now: exchange decides,
	// at every request, so that a product revoked (or the account disabled) while the
	// session is open is gone from the tree at the next request.
	products func() ([]exchange.Product, error)
}

func newMailbox(h *exchange.Hub, p *exchange.Principal, log *slog.Logger, started time.Time) *mailbox {
	return &mailbox{hub: h, p: p, log: log.With("account", p.Account.Name, "organisatie", p.Org.Code), dirTime: started, obs: nopObserver{},
		products: func() ([]exchange.Product, error) { return h.Mailboxes(p) }}
}

// statusErr carries an SFTP status code with a Dutch message for clients that show it.
type statusErr struct {
	code error
	msg  string
}

func (e statusErr) Error() string { return e.msg }
func (e statusErr) Unwrap() error { return e.code }

func denied(format string, a ...any) error {
	return statusErr{sftp.ErrSSHFxPermissionDenied, "geen toestemming: " + fmt.Sprintf(format, a...)}
}

func notFound(name string) error {
	return statusErr{sftp.ErrSSHFxNoSuchFile, name + " bestaat niet"}
}

// sftpErr maps exchange's errors onto SFTP status codes, keeping the Dutch text.
func sftpErr(err error) error {
	var se statusErr
	var refused *exchange.Refused
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return err
	case errors.As(err, &refused):
		// A refusal the same file will meet again is "permission denied"; one that passes
		// with time (the hub busy, the day's quota) stays "failure": try again later.
		if refused.Temporary() {
			return statusErr{sftp.ErrSSHFxFailure, err.Error()}
		}
		return statusErr{sftp.ErrSSHFxPermissionDenied, err.Error()}
	case errors.Is(err, exchange.ErrTooLarge):
		return statusErr{sftp.ErrSSHFxPermissionDenied, err.Error()}
	case errors.Is(err, exchange.ErrDenied):
		return statusErr{sftp.ErrSSHFxPermissionDenied, err.Error()}
	case errors.Is(err, exchange.ErrNotFound), errors.Is(err, storage.ErrNotFound):
		return statusErr{sftp.ErrSSHFxNoSuchFile, err.Error()}
	}
	return statusErr{sftp.ErrSSHFxFailure, err.Error()}
}

type locKind int

const (
	locRoot    locKind = iota // /
	locProduct                // /iwmo
	locFolder                 // /iwmo/ophalen
	locFile                   // /iwmo/ophalen/x.zip, /iwmo/ophalen/nieuw/x.zip
)

// loc is a path inside the tree.
type loc struct {
	kind    locKind
	product exchange.Product
	folder  string // aanleveren, ophalen, verslagen, or nieuw (ophalen/nieuw)
	name    string
	path    string
}

// resolve maps a cleaned absolute path onto the tree. Anything outside it, including other
// organisations' and products the account lacks, is permission denied: the tree is the
// whole world.
func (m *mailbox) resolve(p string) (loc, error) {
	p = path.Clean("/" + p)
	l := loc{path: p}
	if p == "/" {
		return l, nil
	}
	parts := strings.Split(p[1:], "/")
	product := exchange.Product(parts[0])
	mine, err := m.products()
	if err != nil {
		return loc{}, sftpErr(err)
	}
	if !slices.Contains(mine, product) {
		return loc{}, denied("%s ligt buiten uw postbus; u hebt alleen %s", p, productList(mine))
	}
	l.product, l.kind = product, locProduct
	if len(parts) == 1 {
		return l, nil
	}
	l.folder, l.kind = parts[1], locFolder
	if !slices.Contains(productFolders, l.folder) {
		return loc{}, denied("%s bestaat niet; een product bevat alleen aanleveren/, ophalen/ en verslagen/", p)
	}
	rest := parts[2:]
	if l.folder == folderOphalen && len(rest) > 0 && rest[0] == folderNieuw {
		l.folder = folderNieuw
		rest = rest[1:]
	}
	switch len(rest) {
	case 0:
		return l, nil
	case 1:
		l.name, l.kind = rest[0], locFile
		return l, nil
	}
	return loc{}, denied("%s bestaat niet: er zijn geen submappen", p)
}

func productList(products []exchange.Product) string {
	var names []string
	for _, p := range products {
		names = append(names, "/"+string(p))
	}
	if len(names) == 0 {
		return "geen producten"
	}
	return strings.Join(names, ", ")
}

func (m *mailbox) audit(action, p string, err error) {
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	m.hub.Audit(m.p, action, p, result)
}

// refuse audits and returns a denial.
func (m *mailbox) refuse(action, p string, err error) error {
	err = sftpErr(err)
	m.audit(action, p, err)
	return err
}

// --- reading ---

func (m *mailbox) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	l, err := m.resolve(r.Filepath)
	if err != nil {
		return nil, m.refuse("download", r.Filepath, err)
	}
	if l.kind != locFile {
		return nil, m.refuse("download", l.path, statusErr{sftp.ErrSSHFxFailure, l.path + " is een map"})
	}
	if err := m.refuseWhileDraining("download", l.path); err != nil {
		return nil, err
	}
	switch l.folder {
	case folderOphalen, folderNieuw:
		if err := m.openHandle(l.path); err != nil {
			return nil, err
		}
		rd, d, err := m.hub.OpenDelivery(m.p, l.product, l.name)
		if err != nil {
			m.closeHandle()
			return nil, m.refuse("download", l.path, err)
		}
		if l.folder == folderNieuw && !d.GelezenAt.IsZero() {
			rd.Close()
			m.closeHandle()
			return nil, m.refuse("download", l.path, notFound(l.path))
		}
		m.guard.begin()
		return &deliveryReader{m: m, l: l, r: rd, size: rd.Size()}, nil
	case folderVerslagen:
		if err := m.openHandle(l.path); err != nil {
			return nil, err
		}
		ctx, cancel := m.connContext()
		_, b, err := m.hub.OpenReport(ctx, m.p, l.product, l.name)
		cancel()
		if err != nil {
			m.closeHandle()
			return nil, m.refuse("download", l.path, err)
		}
		m.guard.begin()
		return &reportReader{m: m, l: l, Reader: bytes.NewReader(b)}, nil
	}
	return nil, m.refuse("download", l.path, denied("in aanleveren/ kunt u alleen bestanden plaatsen; uw bestanden voor ophalen staan in /%s/ophalen", l.product))
}

// deliveryReader serves a file of ophalen/. ReadAt is called concurrently and out of
// order; it only counts with atomics. A file read to its end is marked gelezen on close.
type deliveryReader struct {
	m      *mailbox
	l      loc
	r      storage.Reader
	size   int64
	read   atomic.Int64
	atEnd  atomic.Bool
	failed atomic.Bool
}

func (d *deliveryReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := d.r.ReadAt(b, off)
	d.read.Add(int64(n))
	d.m.obs.SFTPSent(n)
	if off+int64(n) >= d.size {
		d.atEnd.Store(true)
	}
	return n, err
}

func (d *deliveryReader) TransferError(error) { d.failed.Store(true) }

func (d *deliveryReader) Close() error {
	defer d.m.guard.end()
	d.r.Close()
	d.m.closeHandle()
	// Gelezen only after a clean close: a transfer that ended in an error (the connection
	// dropped) is not gelezen even when every byte was read here, since the last bytes may
	// never have reached the client. It stays in nieuw/ and is fetched again: a file may come
	// twice, it is never lost (TestDroppedDownloadOfEveryByteIsNotGelezen).
	complete := !d.failed.Load() && d.atEnd.Load() && d.read.Load() >= d.size
	if !complete {
		why := fmt.Errorf("niet volledig gelezen (%d van %d bytes)", d.read.Load(), d.size)
		if d.failed.Load() && d.read.Load() >= d.size {
			why = fmt.Errorf("alle %d bytes gelezen, maar de overdracht brak af vóór de close: niet gelezen, blijft in nieuw/", d.size)
		}
		d.m.audit("download", d.l.path, why)
		return nil
	}
	d.m.audit("download", d.l.path, nil)
	if err := d.m.hub.SetGelezen(d.m.p, d.l.product, []string{d.l.name}, true); err != nil {
		d.m.log.Warn("gelezen markeren", "pad", d.l.path, "err", err)
	}
	return nil
}

type reportReader struct {
	m *mailbox
	l loc
	*bytes.Reader
}

func (r *reportReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := r.Reader.ReadAt(b, off)
	r.m.obs.SFTPSent(n)
	return n, err
}

func (r *reportReader) Close() error {
	defer r.m.guard.end()
	r.m.closeHandle()
	r.m.audit("download", r.l.path, nil)
	return nil
}

// --- writing ---

func (m *mailbox) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	l, err := m.resolve(r.Filepath)
	if err != nil {
		return nil, m.refuseWrite(r.Filepath, err)
	}
	if l.kind != locFile || l.folder != folderAanleveren {
		where := l.path
		if l.kind == locFile {
			where = path.Dir(l.path)
		}
		return nil, m.refuseWrite(l.path, fmt.Errorf("%w: in %s kunt u niet schrijven; lever aan in /%s/aanleveren/", exchange.ErrNotAanleveren, where, l.product))
	}
	if err := m.refuseWhileDraining("aanleveren", l.path); err != nil {
		return nil, err
	}
	if err := m.openHandle(l.path); err != nil {
		return nil, err
	}
	flags := r.Pflags()
	// The wait for admission is work done for the client: the idle time-out must not cut it.
	ctx, cancel := m.connContext()
	done := m.guard.work()
	// Without O_TRUNC the client continues a file (OpenSSH reput, rclone resume).
	s, err := m.hub.StartUpload(ctx, m.p, l.product, l.name, !flags.Trunc)
	done()
	cancel()
	if err != nil {
		m.closeHandle()
		return nil, sftpErr(err) // StartUpload audits its refusals
	}
	m.guard.beginUpload()
	return spoolWriter{s, m.guard, m}, nil
}

// refuseWrite answers a write outside the folders where uploads may go. A path in one of the
// hub's products (also one the account has no access to) is recorded as a refused upload, so
// that the person finds the reason where OpenSSH's sftp does not show it; anything else is only
// audited.
func (m *mailbox) refuseWrite(p string, cause error) error {
	clean := path.Clean("/" + p)
	parts := strings.Split(clean[1:], "/")
	product := exchange.Product(parts[0])
	if len(parts) < 2 || !slices.Contains(exchange.Products, product) {
		return m.refuse("aanleveren", p, cause)
	}
	if mine, err := m.products(); err != nil {
		cause = err
	} else if !slices.Contains(mine, product) {
		cause = fmt.Errorf("%w: account %s heeft geen toegang tot /%s; u kunt aanleveren in %s, of vraag uw gebruikersbeheerder om toegang tot %s",
			exchange.ErrDenied, m.p.Account.Name, product, productList(mine), product)
	} else if !errors.Is(cause, exchange.ErrNotAanleveren) {
		cause = fmt.Errorf("%w: %s; lever aan in /%s/aanleveren/", exchange.ErrNotAanleveren, cause.Error(), product)
	}
	return sftpErr(m.hub.RefuseUpload(m.p, product, path.Base(clean), 0, cause))
}

// spoolWriter hands pkg/sftp's cut-off signal to the spool, which then never accepts the
// file.
type spoolWriter struct {
	*exchange.Spool
	g *guard
	m *mailbox
}

func (w spoolWriter) TransferError(err error) { w.Fail(err) }

// WriteAt answers a refused write with the status that says most (a file past its size
// limit: permission denied), and counts the bytes for monitoring.
func (w spoolWriter) WriteAt(b []byte, off int64) (int, error) {
	n, err := w.Spool.WriteAt(b, off)
	w.m.obs.SFTPReceived(n)
	if err != nil {
		return n, sftpErr(err)
	}
	return n, nil
}

// Close may take a while (fsync, recording the upload): the connection is busy meanwhile.
func (w spoolWriter) Close() error {
	done := w.g.work()
	defer w.m.closeHandle()
	defer w.g.endUpload()
	defer done()
	return sftpErr(w.Spool.Close())
}

// --- commands ---

func (m *mailbox) Filecmd(r *sftp.Request) error {
	switch r.Method {
	case "Setstat":
		// Clients set times and modes after a put; accepted and ignored, inside the tree.
		if _, err := m.resolve(r.Filepath); err != nil {
			return m.refuse("setstat", r.Filepath, err)
		}
		return nil
	case "Rename", "PosixRename":
		return m.rename(r)
	case "Remove":
		return m.remove(r)
	case "Mkdir":
		return m.refuse("mkdir", r.Filepath, denied("mappen maken kan niet; de mappen van uw postbus liggen vast"))
	case "Rmdir":
		return m.refuse("rmdir", r.Filepath, denied("mappen verwijderen kan niet; de mappen van uw postbus liggen vast"))
	case "Symlink":
		return m.refuse("symlink", r.Target, denied("symbolische koppelingen zijn niet toegestaan"))
	case "Link":
		return m.refuse("link", r.Target, denied("koppelingen zijn niet toegestaan"))
	}
	return m.refuse(strings.ToLower(r.Method), r.Filepath, statusErr{sftp.ErrSSHFxOpUnsupported, "niet ondersteund: " + r.Method})
}

func (m *mailbox) rename(r *sftp.Request) error {
	from, err := m.resolve(r.Filepath)
	if err != nil {
		return m.refuse("hernoem", r.Filepath, err)
	}
	to, err := m.resolve(r.Target)
	if err != nil {
		return m.refuse("hernoem", r.Target, err)
	}
	if from.kind != locFile || to.kind != locFile || from.folder != folderAanleveren || to.folder != folderAanleveren || from.product != to.product {
		return m.refuse("hernoem", from.path, denied("hernoemen kan alleen binnen één map aanleveren/ (x.filepart naar x.zip)"))
	}
	ctx, cancel := m.connContext()
	defer cancel()
	done := m.guard.work()
	defer done()
	return sftpErr(m.hub.RenameUpload(ctx, m.p, from.product, from.name, to.name))
}

// connContext ends when the client's connection closes, so that a client that gives up
// while its upload waits for admission stops the wait. pkg/sftp's request context would not
// do: it ends only after the handler has returned.
func (m *mailbox) connContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	if m.guard != nil {
		go func() {
			select {
			case <-m.guard.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

func (m *mailbox) remove(r *sftp.Request) error {
	l, err := m.resolve(r.Filepath)
	if err != nil {
		return m.refuse("verwijder", r.Filepath, err)
	}
	if l.kind != locFile {
		return m.refuse("verwijder", l.path, denied("mappen verwijderen kan niet"))
	}
	switch l.folder {
	case folderAanleveren:
		return sftpErr(m.hub.RemovePending(m.p, l.product, l.name))
	case folderOphalen, folderNieuw:
		return sftpErr(m.hub.DeleteDeliveries(m.p, l.product, []string{l.name}))
	}
	return m.refuse("verwijder", l.path, denied("verslagen kunnen niet verwijderd worden"))
}

// StatVFS answers `df`: the room left for uploads.
func (m *mailbox) StatVFS(r *sftp.Request) (*sftp.StatVFS, error) {
	if _, err := m.resolve(r.Filepath); err != nil {
		return nil, m.refuse("df", r.Filepath, err)
	}
	free, err := m.hub.FreeSpace()
	if err != nil {
		return nil, m.refuse("df", r.Filepath, err)
	}
	const bsize = 4096
	blocks := free / bsize
	return &sftp.StatVFS{Bsize: bsize, Frsize: bsize, Blocks: blocks, Bfree: blocks, Bavail: blocks,
		Files: 1 << 20, Ffree: 1 << 20, Favail: 1 << 20, Namemax: 255}, nil
}

// --- listing ---

func (m *mailbox) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	l, err := m.resolve(r.Filepath)
	if err != nil {
		return nil, m.refuse(strings.ToLower(r.Method), r.Filepath, err)
	}
	switch r.Method {
	case "List":
		if l.kind == locFile {
			return nil, statusErr{sftp.ErrSSHFxFailure, l.path + " is geen map"}
		}
		// An open directory holds its listing in memory until it is closed: it counts as
		// a handle like an open file.
		if err := m.openHandle(l.path); err != nil {
			return nil, err
		}
		infos, err := m.list(l)
		if err != nil {
			m.closeHandle()
			return nil, m.refuse("lijst", l.path, err)
		}
		m.audit("lijst", l.path, nil)
		return &closingLister{ListerAt: lister(infos), m: m}, nil
	case "Stat", "Lstat":
		fi, err := m.stat(l)
		if err != nil {
			return nil, sftpErr(err)
		}
		return lister{fi}, nil
	case "Readlink":
		return nil, statusErr{sftp.ErrSSHFxFailure, l.path + " is geen koppeling"}
	}
	return nil, statusErr{sftp.ErrSSHFxOpUnsupported, "niet ondersteund: " + r.Method}
}

// Lstat is Stat: the tree has no links.
func (m *mailbox) Lstat(r *sftp.Request) (sftp.ListerAt, error) { return m.Filelist(r) }

// RealPath makes a path absolute against /, the root of the tree. It does not check that
// the path exists, as OpenSSH's server does not for the last element either.
func (m *mailbox) RealPath(p string) (string, error) { return path.Clean("/" + p), nil }

func (m *mailbox) dir(name string, writable bool) os.FileInfo {
	mode := fs.ModeDir | 0o555
	if writable {
		mode = fs.ModeDir | 0o755
	}
	return &fileInfo{name: name, mode: mode, mtime: m.dirTime}
}

func (m *mailbox) list(l loc) ([]os.FileInfo, error) {
	ctx, cancel := m.connContext() // a long listing stops when the client leaves
	defer cancel()
	switch l.kind {
	case locRoot:
		mine, err := m.products()
		if err != nil {
			return nil, err
		}
		var out []os.FileInfo
		for _, p := range mine {
			out = append(out, m.dir(string(p), false))
		}
		return out, nil
	case locProduct:
		return []os.FileInfo{m.dir(folderAanleveren, true), m.dir(folderOphalen, true), m.dir(folderVerslagen, false)}, nil
	}
	switch l.folder {
	case folderAanleveren:
		files, err := m.hub.Pending(m.p, l.product)
		if err != nil {
			return nil, err
		}
		out := make([]os.FileInfo, 0, len(files))
		for _, f := range files {
			out = append(out, &fileInfo{name: f.Name, size: f.Size, mode: 0o644, mtime: f.ModTime})
		}
		return out, nil
	case folderOphalen, folderNieuw:
		ds, _, err := m.hub.Inbox(ctx, m.p, l.product, exchange.InboxOptions{OnlyNew: l.folder == folderNieuw})
		if err != nil {
			return nil, err
		}
		out := make([]os.FileInfo, 0, len(ds)+1)
		if l.folder == folderOphalen {
			out = append(out, m.dir(folderNieuw, true))
		}
		for _, d := range ds {
			out = append(out, deliveryInfo(d))
		}
		return out, nil
	case folderVerslagen:
		rs, err := m.hub.Reports(ctx, m.p, l.product)
		if err != nil {
			return nil, err
		}
		out := make([]os.FileInfo, 0, len(rs))
		for _, r := range rs {
			out = append(out, &fileInfo{name: r.Name, size: r.Size, mode: 0o444, mtime: r.ModTime})
		}
		return out, nil
	}
	return nil, denied("%s bestaat niet", l.path)
}

func deliveryInfo(d exchange.Delivery) os.FileInfo {
	return &fileInfo{name: d.Name, size: d.Size, mode: 0o644, mtime: d.CreatedAt}
}

func (m *mailbox) stat(l loc) (os.FileInfo, error) {
	ctx, cancel := m.connContext()
	defer cancel()
	switch l.kind {
	case locRoot:
		return m.dir("/", false), nil
	case locProduct:
		return m.dir(string(l.product), false), nil
	case locFolder:
		return m.dir(path.Base(l.path), l.folder != folderVerslagen), nil
	}
	switch l.folder {
	case folderAanleveren:
		f, found, err := m.hub.FindPending(m.p, l.product, l.name)
		if err != nil {
			return nil, err
		}
		if found {
			return &fileInfo{name: f.Name, size: f.Size, mode: 0o644, mtime: f.ModTime}, nil
		}
		// A client checks its file right after the put (rclone): the upload answers for a
		// while, though it is already on its way.
		if u, ok := m.hub.RecentUpload(m.p, l.product, l.name); ok {
			return &fileInfo{name: u.Name, size: u.Size, mode: 0o444, mtime: u.ReceivedAt}, nil
		}
	case folderOphalen, folderNieuw:
		d, err := m.hub.Delivery(m.p, l.product, l.name)
		if err == nil {
			if l.folder == folderOphalen || d.GelezenAt.IsZero() {
				return deliveryInfo(d), nil
			}
		} else if !errors.Is(err, exchange.ErrNotFound) {
			return nil, err
		}
	case folderVerslagen:
		r, _, err := m.hub.OpenReport(ctx, m.p, l.product, l.name)
		if err == nil {
			return &fileInfo{name: r.Name, size: r.Size, mode: 0o444, mtime: r.ModTime}, nil
		} else if !errors.Is(err, exchange.ErrNotFound) {
			return nil, err
		}
	}
	return nil, notFound(l.path)
}

type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (f *fileInfo) Name() string       { return f.name }
func (f *fileInfo) Size() int64        { return f.size }
func (f *fileInfo) Mode() fs.FileMode  { return f.mode }
func (f *fileInfo) ModTime() time.Time { return f.mtime }
func (f *fileInfo) IsDir() bool        { return f.mode.IsDir() }
func (f *fileInfo) Sys() any           { return nil }

type lister []os.FileInfo

func (l lister) ListAt(dst []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if off+int64(n) >= int64(len(l)) {
		return n, io.EOF
	}
	return n, nil
}
