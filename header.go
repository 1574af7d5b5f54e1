package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"strings"
)

// maxHeaderSize bounds the part of a message held in memory: the header
// block, which must be seen whole before the sender can be checked. A block
// that grows past it ends there (see headerFilter). Postfix's own limit for
// one header field (header_size_limit) is 100 KiB.
const maxHeaderSize = 256 << 10

// headerFilter sits between the text reader and the spool file: it holds
// the header block (at most maxHeaderSize bytes), checks and amends it,
// then passes the body straight through, written once and never reordered.
// The block ends, as for Postfix, at an empty line or at the first line
// that is no header field; then mppd writes an empty line before it, so no
// From: can hide below a line mppd did not read as a header.
type headerFilter struct {
	out  io.Writer
	id   *Identity
	env  Envelope
	logs func(msg, address string) // says what was done to the header, for the log

	header  []byte // complete header lines, LF-terminated, as received
	line    []byte // the line being received
	inBody  bool
	refusal *replyError // why the message is refused: PolicyReject, two From: fields
	err     error       // first write error

	logins     loginMap // the sender login map, once an address needed it
	loginsRead bool
}

func (id *Identity) newHeaderFilter(out io.Writer, env Envelope, notes func(msg, address string)) *headerFilter {
	return &headerFilter{out: out, id: id, env: env, logs: notes}
}

func (h *headerFilter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && !h.inBody {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			h.line = append(h.line, p...)
			p = nil
			if len(h.header)+len(h.line) > maxHeaderSize {
				h.endHeader(endEarly)
			}
			break
		}
		h.line = append(h.line, p[:i+1]...)
		p = p[i+1:]
		switch {
		case len(h.line) == 1:
			h.endHeader(endBlank)
		case len(h.header)+len(h.line) > maxHeaderSize, !isHeaderLine(h.line, len(h.header) > 0):
			h.endHeader(endEarly)
		default:
			h.header = append(h.header, h.line...)
			h.line = h.line[:0]
		}
	}
	if len(p) > 0 {
		h.write(p)
	}
	return n, h.err
}

// Close ends the text. If it ended inside the header block (a message with
// no body), the block, amended, is the whole message.
func (h *headerFilter) Close() error {
	if !h.inBody {
		if len(h.line) > 0 {
			h.endHeader(endEarly)
		} else {
			h.endHeader(endText)
		}
	}
	return h.err
}

func (h *headerFilter) write(p []byte) {
	if h.err == nil {
		_, h.err = h.out.Write(p)
	}
}

// How a header block ended.
const (
	endBlank = iota // at its empty line, which is in h.line
	endEarly        // at h.line, which is not a header field or would be too much
	endText         // at the end of the text
)

// endHeader writes the amended header block, then the empty line and what
// follows it. A block that ended early gets an empty line mppd adds, so that
// the mail system reads the rest as body just as mppd did.
func (h *headerFilter) endHeader(how int) {
	h.inBody = true
	h.write(h.amend(splitFields(h.header)))
	switch how {
	case endBlank:
		h.write(h.line)
	case endEarly:
		h.write([]byte("\n"))
		h.write(h.line)
		if h.logs != nil {
			h.logs("header block ended by a line that is not a header field, or too large; an empty line was put before that line", "")
		}
	}
	h.header, h.line = nil, nil
}

// isHeaderLine reports whether line (LF-terminated) can be part of a header
// block: a field name of printable ASCII and a colon (RFC 5322 §2.2, with
// the obsolete white space before the colon of §4.5), or, after a field,
// a continuation line starting with white space. A NUL or a bare CR
// anywhere makes it body: readers differ on what those mean in a header.
func isHeaderLine(line []byte, afterField bool) bool {
	if bytes.IndexByte(line, 0) >= 0 || bytes.IndexByte(line, '\r') >= 0 {
		return false
	}
	if line[0] == ' ' || line[0] == '\t' {
		return afterField && len(bytes.TrimSpace(line)) > 0
	}
	i := 0
	for i < len(line) && line[i] > ' ' && line[i] < 0x7f && line[i] != ':' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i < len(line) && line[i] == ':'
}

// field is one header field as received: its first line and continuations.
type field struct {
	raw  []byte
	name string // lower case, without white space
}

func splitFields(block []byte) []field {
	var fs []field
	start := -1
	for i := 0; i < len(block); {
		end := len(block)
		if j := bytes.IndexByte(block[i:], '\n'); j >= 0 {
			end = i + j + 1
		}
		if block[i] != ' ' && block[i] != '\t' || start < 0 {
			if start >= 0 {
				fs = append(fs, newField(block[start:i]))
			}
			start = i
		}
		i = end
	}
	if start >= 0 {
		fs = append(fs, newField(block[start:]))
	}
	return fs
}

func newField(raw []byte) field {
	name, _, _ := bytes.Cut(raw, []byte(":"))
	return field{raw: raw, name: strings.ToLower(string(bytes.TrimRight(name, " \t")))}
}

// value is the field's body, unfolded (RFC 5322 §2.2.3).
func (f field) value() string {
	_, v, _ := bytes.Cut(f.raw, []byte(":"))
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return strings.TrimSpace(string(v))
}

// addressParser reads From:, Sender: and their Resent- kin. Display names
// do not matter here, only addresses: an encoded word in a charset Go does
// not know is taken as it is instead of failing the whole header.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// mayUse reports whether every mailbox in the field's value is one the user
// may send as, and names the first that is not. A field that cannot be read
// as addresses, or holds none, is not the user's.
func (h *headerFilter) mayUse(f field) (bool, string) {
	v := f.value()
	list, err := addressParser.ParseList(v)
	if err != nil {
		// "From: alice": a bare login, which Postfix qualifies with
		// myorigin, as the user's own when the domains agree, and only
		// when Postfix makes USER@myorigin of it (bareLoginIsAddress).
		if v == h.env.User && bareLoginIsAddress(v) {
			return true, ""
		}
		return false, v
	}
	if len(list) == 0 {
		return false, v
	}
	for _, a := range list {
		if !h.owns(a.Address) {
			return false, a.Address
		}
	}
	return true, ""
}

// owns reports whether address is the user's own or given to the user by
// the sender login map. The map is read for the first address that is not
// the user's own, and once a message at most: most messages need no look
// at it.
func (h *headerFilter) owns(address string) bool {
	if strings.EqualFold(address, h.id.plainAddress(h.env.User)) {
		return true
	}
	if h.id.LoginMap != "" && !h.loginsRead {
		h.loginsRead = true
		var err error
		if h.logins, err = readLoginMap(h.id.LoginMap); err != nil && h.logs != nil {
			// Fail closed: without the map only the user's own address
			// counts, and a message that needed an alias is treated as
			// not the user's (Sender: added, From: rewritten, or a 451
			// that asks for a later try).
			h.logs("sender login map unreadable, only the user's own address allowed: "+err.Error(), "")
		}
	}
	return h.logins.owns(h.env.User, address)
}

// identityBlock is a set of fields that say who sent the message: an author
// field and the sender field that goes with it. The message's own From: and
// Sender: are one (RFC 5322 §3.6.2). Each resent block, the Resent-* fields
// one resending added, is another (§3.6.6): Resent-From: and Resent-Sender:
// mean there what From: and Sender: mean for the message, and Postfix and
// mail readers take them for the sender of the resent message, so the
// policy applies to every block alike.
type identityBlock struct {
	author, sender       string // the field names as mppd writes them
	authorKey, senderKey string // and as field.name has them
	first                int    // the index of the block's first field; -1: the message's own

	authors              int    // how many author fields it has
	authorOK, senderOK   bool   // each of them names only the user's addresses
	badAuthor, badSender string // the first address that is not the user's

	rewrite, dropSenders, addSender bool // what the policy makes of it
	written                         bool // mppd wrote its author or sender field
}

func newIdentityBlock(author, sender string, first int) *identityBlock {
	return &identityBlock{author: author, sender: sender, first: first, authorOK: true, senderOK: true,
		authorKey: strings.ToLower(author), senderKey: strings.ToLower(sender)}
}

// isResentField reports whether a field (its lower-case name) is one that
// Postfix's cleanup(8) takes for a resent field (header_opts.c). With any of
// them in a message Postfix adds a Resent-From: of its calling user (mppd's,
// not the user's) if there is none, and sendmail -t takes the recipients
// from Resent-To:, Resent-Cc: and Resent-Bcc: only.
func isResentField(name string) bool {
	switch name {
	case "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc",
		"resent-date", "resent-message-id", "resent-reply-to":
		return true
	}
	return false
}

// identityBlocks groups the fields: blocks[0] is the message's own, then one
// block for each run of resent fields (§3.6.6: a resending's fields are
// grouped together, the newest block first); of[i] is the block of
// fields[i]. Fields that are neither belong to block 0, where they do not
// matter.
func identityBlocks(fields []field) (blocks []*identityBlock, of []int) {
	blocks = []*identityBlock{newIdentityBlock("From", "Sender", -1)}
	of = make([]int, len(fields))
	for i, f := range fields {
		if !isResentField(f.name) {
			continue
		}
		if i == 0 || of[i-1] == 0 {
			blocks = append(blocks, newIdentityBlock("Resent-From", "Resent-Sender", i))
		}
		of[i] = len(blocks) - 1
	}
	return blocks, of
}

// check looks at one field of the block.
func (b *identityBlock) check(h *headerFilter, f field) {
	switch f.name {
	case b.authorKey:
		b.authors++
		if ok, bad := h.mayUse(f); !ok && b.authorOK {
			b.authorOK, b.badAuthor = false, bad
		}
	case b.senderKey:
		if ok, bad := h.mayUse(f); !ok && b.senderOK {
			b.senderOK, b.badSender = false, bad
		}
	}
}

// amend applies the sender policy to the header fields and returns the
// header block to write: the Received: trace field first (RFC 5321 §4.4
// puts trace fields at the top), then the fields as received, amended.
func (h *headerFilter) amend(fields []field) []byte {
	blocks, of := identityBlocks(fields)
	for i, f := range fields {
		blocks[of[i]].check(h, f)
	}
	var out bytes.Buffer
	out.WriteString(h.received())
	if h.refusal = h.refusalFor(blocks); h.refusal != nil {
		// Nothing is delivered: the fields stay as they are.
		for _, f := range fields {
			writeField(&out, f.raw)
		}
		return out.Bytes()
	}

	// Postfix would write a missing From: (in a resent message, a missing
	// Resent-From:) from the calling uid's GECOS, which is mppd's, not the
	// user's: mppd writes them, the Resent-From: at the top of the first
	// resent block.
	addFrom, addResentFrom := blocks[0].authors == 0, len(blocks) > 1
	for _, b := range blocks[1:] {
		addResentFrom = addResentFrom && b.authors == 0
	}
	// The user's mailbox, whose name is a passwd lookup, only for a field
	// that mppd writes.
	writesOwn := addFrom || addResentFrom
	for _, b := range blocks {
		h.decide(b)
		writesOwn = writesOwn || !b.authorOK
	}
	var own string
	if writesOwn {
		own = h.ownMailbox()
	}
	if addFrom {
		fmt.Fprintf(&out, "From: %s\n", own)
	}
	for i, f := range fields {
		b := blocks[of[i]]
		if addResentFrom && i == blocks[1].first {
			fmt.Fprintf(&out, "Resent-From: %s\n", own)
		}
		isAuthor := f.name == b.authorKey
		switch {
		case f.name == b.senderKey && b.dropSenders:
			continue
		case isAuthor && b.rewrite:
			if !b.written {
				fmt.Fprintf(&out, "%s: %s\n", b.author, own)
				b.written = true
			}
			continue
		}
		writeField(&out, f.raw)
		if isAuthor && b.addSender && !b.written {
			// Right below the author it does not match.
			fmt.Fprintf(&out, "%s: %s\n", b.sender, own)
			b.written = true
		}
	}
	return out.Bytes()
}

// refusalFor is why the message is refused, or nil.
func (h *headerFilter) refusalFor(blocks []*identityBlock) *replyError {
	if blocks[0].authors > 1 {
		// RFC 5322 §3.6 allows one From:. Of two, readers show one and
		// DMARC checks another (RFC 7489 §6.6.1), so a From: of the
		// user's own could carry a forged one past both; merging them
		// would make the user co-author of a text they may not have
		// written. Refused whatever the policy.
		return tempError("Local error encountered: more than one From: field", nil)
	}
	if h.id.Policy != PolicyReject {
		return nil
	}
	for _, b := range blocks {
		what, bad := b.author, b.badAuthor
		if b.authorOK {
			what, bad = b.sender, b.badSender
		}
		if !b.authorOK || !b.senderOK {
			return tempError(fmt.Sprintf("Local error encountered: %s: address %s is not %s's",
				what, replySafe(bad), replySafe(h.env.User)), nil)
		}
	}
	return nil
}

// decide sets what -from-policy sender or rewrite makes of the block, and
// says it in the log. Under sender, an author that is not the user's keeps
// its place and gets the user as sender right below it (§3.6.2: author and
// sender differ); a sender that is not the user's goes.
func (h *headerFilter) decide(b *identityBlock) {
	b.rewrite = h.id.Policy == PolicyRewrite && !b.authorOK
	b.dropSenders = !b.authorOK || !b.senderOK
	b.addSender = !b.authorOK && !b.rewrite
	switch {
	case b.authorOK && b.senderOK:
	case b.rewrite:
		h.note(b.author+": rewritten", b.badAuthor)
	case b.addSender:
		h.note(b.sender+": added", b.badAuthor)
	default:
		h.note(b.sender+": removed", b.badSender)
	}
}

// writeField writes a field as received, ending in a line end even when the
// text ended without one.
func writeField(b *bytes.Buffer, raw []byte) {
	b.Write(raw)
	if raw[len(raw)-1] != '\n' {
		b.WriteByte('\n')
	}
}

func (h *headerFilter) note(what, addr string) {
	if h.logs != nil {
		h.logs(what+": not the user's address", addr)
	}
}

// ownMailbox is the user's address with their full name, for the From: or
// Sender: mppd writes.
func (h *headerFilter) ownMailbox() string {
	addr := h.id.Address(h.env.User)
	name := h.id.FullName(h.env.User)
	if name == "" {
		return addr
	}
	// mail.Address quotes or encodes the name as RFC 5322 and RFC 2047
	// require; the address is written as mppd quotes it everywhere.
	s := (&mail.Address{Name: name, Address: "x@x"}).String()
	return strings.TrimSuffix(s, "<x@x>") + "<" + addr + ">"
}

// received is the trace field for this message (RFC 5321 §4.4): where it
// came from, who proved their identity, which server took it, the session
// id that is in mppd's log lines, and when.
func (h *headerFilter) received() string {
	from := "unknown"
	if ip := net.ParseIP(h.env.Peer); ip != nil {
		if ip.To4() != nil {
			from = "[" + ip.String() + "]"
		} else {
			from = "[IPv6:" + ip.String() + "]"
		}
	}
	return fmt.Sprintf("Received: from %s\n\tby %s (mppd) with MPP id %s\n\t(authenticated user %s);\n\t%s\n",
		from, h.id.Hostname, h.env.SessionID, commentSafe(h.env.User),
		h.id.time().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
}

// commentSafe quotes what would end or nest an RFC 5322 comment.
func commentSafe(s string) string {
	return commentQuoter.Replace(s)
}

// commentQuoter is built once: a Replacer builds its tables on first use,
// which would otherwise be for every message.
var commentQuoter = strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)

// replySafe makes a client-supplied string fit in one reply line.
func replySafe(s string) string {
	const max = 100
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	if s == "" {
		s = "(none)"
	}
	return s
}
