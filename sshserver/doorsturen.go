package sshserver

import (
	"net"
	"strconv"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// The hub forwards nothing: no TCP or Unix-socket forwarding either way, no agent. Without
// handlers the SSH library refused these silently; the handlers below refuse them the same
// way and put each attempt in the audit log, since asking is probing (issue 16).

const forwardRefused = "geweigerd: het knooppunt stuurt geen verbindingen door (geen port forwarding)"

// forwardRequests are the global requests that ask the server to listen for the client.
var forwardRequests = map[string]bool{
	"tcpip-forward": true, "cancel-tcpip-forward": true,
	"streamlocal-forward@openssh.com": true, "cancel-streamlocal-forward@openssh.com": true,
}

// refuseForwarding installs the handlers on srv: every channel type but "session", and the
// global forwarding requests, are refused and audited. Other global requests (keepalives) get
// the same "no" as before, unaudited.
func (s *Server) refuseForwarding(srv *ssh.Server) {
	if srv.ChannelHandlers == nil {
		srv.ChannelHandlers = map[string]ssh.ChannelHandler{}
		for k, v := range ssh.DefaultChannelHandlers {
			srv.ChannelHandlers[k] = v
		}
	}
	srv.ChannelHandlers["default"] = func(_ *ssh.Server, _ *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
		what := ch.ChannelType()
		var d struct {
			Addr string
			Port uint32
			Rest []byte `ssh:"rest"`
		}
		if what == "direct-tcpip" && gossh.Unmarshal(ch.ExtraData(), &d) == nil {
			what += " " + net.JoinHostPort(d.Addr, strconv.FormatUint(uint64(d.Port), 10))
		}
		s.hub.AuditConn(ctx.User(), remoteOf(ctx), "doorsturen", what, forwardRefused)
		_ = ch.Reject(gossh.Prohibited, "het knooppunt stuurt geen verbindingen door")
	}
	if srv.RequestHandlers == nil {
		srv.RequestHandlers = map[string]ssh.RequestHandler{}
		for k, v := range ssh.DefaultRequestHandlers {
			srv.RequestHandlers[k] = v
		}
	}
	srv.RequestHandlers["default"] = func(ctx ssh.Context, _ *ssh.Server, req *gossh.Request) (bool, []byte) {
		if forwardRequests[req.Type] {
			what := req.Type
			var d struct {
				Addr string
				Port uint32
			}
			if (req.Type == "tcpip-forward" || req.Type == "cancel-tcpip-forward") && gossh.Unmarshal(req.Payload, &d) == nil {
				what += " " + net.JoinHostPort(d.Addr, strconv.FormatUint(uint64(d.Port), 10))
			}
			s.hub.AuditConn(ctx.User(), remoteOf(ctx), "doorsturen", what, forwardRefused)
		}
		return false, nil
	}
}

func remoteOf(ctx ssh.Context) string {
	if a := ctx.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
