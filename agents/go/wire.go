// The wire format of docs/protocol.md: one SOCK_SEQPACKET packet is one ASCII message, a verb and
// space-separated key=value fields; integers decimal, lists comma-separated, bytes lower-case hex.
// Mirrors Sources/HandoffProtocol/WireMessage.swift and the FieldReader of OperationCoding.swift.
//
// Only strconv and strings: encoding/hex and fmt pull in package os, whose init raises RLIMIT_NOFILE
// and may start the netpoller (see README.md, "What the agent keeps out of its table").
package main

import (
	"strconv"
	"strings"
)

type field struct{ key, value string }

type message struct {
	verb   string
	fields []field
}

func (m *message) get(key string) (string, bool) {
	for _, f := range m.fields {
		if f.key == key {
			return f.value, true
		}
	}
	return "", false
}

func (m *message) set(key, value string)      { m.fields = append(m.fields, field{key, value}) }
func (m *message) setInt(key string, v int64) { m.set(key, strconv.FormatInt(v, 10)) }
func (m *message) setUint(key string, v uint64) {
	m.set(key, strconv.FormatUint(v, 10))
}
func (m *message) setInts(key string, values []int32) {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = strconv.FormatInt(int64(v), 10)
	}
	m.set(key, strings.Join(parts, ","))
}
func (m *message) setBytes(key string, b []byte) { m.set(key, hexEncode(b)) }
func (m *message) setTexts(key string, texts []string) {
	parts := make([]string, len(texts))
	for i, t := range texts {
		parts[i] = hexEncode([]byte(t))
	}
	m.set(key, strings.Join(parts, ","))
}

func (m *message) encode() []byte {
	var b strings.Builder
	b.WriteString(m.verb)
	for _, f := range m.fields {
		b.WriteByte(' ')
		b.WriteString(f.key)
		b.WriteByte('=')
		b.WriteString(f.value)
	}
	return []byte(b.String())
}

// decodeMessage parses one packet; ok false when it is not a well-formed message.
func decodeMessage(packet []byte) (message, bool) {
	words := strings.Fields(string(packet))
	if len(words) == 0 {
		return message{}, false
	}
	m := message{verb: words[0]}
	for _, word := range words[1:] {
		equals := strings.IndexByte(word, '=')
		if equals < 0 {
			return message{}, false
		}
		m.fields = append(m.fields, field{word[:equals], word[equals+1:]})
	}
	return m, true
}

const hexDigits = "0123456789abcdef"

func hexEncode(b []byte) string {
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i] = hexDigits[c>>4]
		out[2*i+1] = hexDigits[c&0xf]
	}
	return string(out)
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func hexDecode(text string) ([]byte, bool) {
	if len(text)%2 != 0 {
		return nil, false
	}
	out := make([]byte, len(text)/2)
	for i := 0; i < len(text); i += 2 {
		high, ok1 := hexValue(text[i])
		low, ok2 := hexValue(text[i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out[i/2] = high<<4 | low
	}
	return out, true
}

// fields reads typed fields of one request and remembers the first problem, worded like the Swift
// FieldReader ("missing field 'fd'", "malformed field 'fd'"), so that a decoder reads everything it needs
// and asks once at the end.
type fields struct {
	m       *message
	problem string
}

func (r *fields) malformed(key string) {
	if r.problem != "" {
		return
	}
	if _, ok := r.m.get(key); ok {
		r.problem = "malformed field '" + key + "'"
	} else {
		r.problem = "missing field '" + key + "'"
	}
}

func (r *fields) require(key string) (string, bool) {
	v, ok := r.m.get(key)
	if !ok {
		r.malformed(key)
	}
	return v, ok
}

func (r *fields) int64(key string) int64 {
	v, ok := r.require(key)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.malformed(key)
	}
	return n
}

func (r *fields) int64Or(key string, fallback int64) int64 {
	if _, ok := r.m.get(key); !ok {
		return fallback
	}
	return r.int64(key)
}

func (r *fields) int32(key string) int32 {
	n := r.int64(key)
	if n < -1<<31 || n > 1<<31-1 {
		r.malformed(key)
		return 0
	}
	return int32(n)
}

func (r *fields) int32Or(key string, fallback int32) int32 {
	if _, ok := r.m.get(key); !ok {
		return fallback
	}
	return r.int32(key)
}

// count is a byte count of read or recv: 0 to maximumTransfer.
func (r *fields) count(key string) int {
	n := r.int64(key)
	if n < 0 || n > maximumTransfer {
		r.malformed(key)
		return 0
	}
	return int(n)
}

func (r *fields) bytes(key string) []byte {
	v, ok := r.require(key)
	if !ok {
		return nil
	}
	b, ok := hexDecode(v)
	if !ok {
		r.malformed(key)
	}
	return b
}

func (r *fields) text(key string) string { return string(r.bytes(key)) }

// list reads a comma-separated list, each part through parse: an absent optional list and an empty one
// are nil; an absent required list, or a part that does not parse, makes the field malformed (nil).
func list[T any](r *fields, key string, optional bool, parse func(string) (T, bool)) []T {
	v, ok := r.m.get(key)
	if !ok {
		if !optional {
			r.malformed(key)
		}
		return nil
	}
	if v == "" {
		return nil
	}
	var out []T
	for _, part := range strings.Split(v, ",") {
		value, ok := parse(part)
		if !ok {
			r.malformed(key)
			return nil
		}
		out = append(out, value)
	}
	return out
}

// texts is a comma-separated list of hex texts; optional lists may be absent (empty).
func (r *fields) texts(key string, optional bool) []string {
	return list(r, key, optional, func(part string) (string, bool) {
		b, ok := hexDecode(part)
		return string(b), ok
	})
}

func (r *fields) ints(key string, optional bool) []int32 {
	return list(r, key, optional, func(part string) (int32, bool) {
		n, err := strconv.ParseInt(part, 10, 32)
		return int32(n), err == nil
	})
}

// operands is a required, possibly empty, list of descriptors (send's `fds`).
func (r *fields) operands(key string, inLoop bool) []operand {
	return list(r, key, false, func(part string) (operand, bool) { return parseOperand(part, inLoop) })
}

// operand is a descriptor as it travels: a number, or inside a loop `@N`, loop slot N.
type operand struct {
	slot   int // -1: a plain number
	number int32
}

func (o operand) value(slots []int32) int32 {
	if o.slot < 0 {
		return o.number
	}
	if o.slot < len(slots) {
		return slots[o.slot]
	}
	return -1
}

func parseOperand(text string, inLoop bool) (operand, bool) {
	if strings.HasPrefix(text, "@") {
		if !inLoop {
			return operand{}, false
		}
		slot, err := strconv.Atoi(text[1:])
		if err != nil || slot < 0 || slot >= loopSlotCount {
			return operand{}, false
		}
		return operand{slot: slot}, true
	}
	n, err := strconv.ParseInt(text, 10, 32)
	if err != nil {
		return operand{}, false
	}
	return operand{slot: -1, number: int32(n)}, true
}

func (r *fields) fd(key string, inLoop bool) operand {
	v, ok := r.require(key)
	if !ok {
		return operand{slot: -1, number: -1}
	}
	o, ok := parseOperand(v, inLoop)
	if !ok {
		r.malformed(key)
		return operand{slot: -1, number: -1}
	}
	return o
}

func badAnswer(reason string) *message {
	m := &message{verb: "bad"}
	m.setBytes("reason", []byte(reason))
	return m
}
