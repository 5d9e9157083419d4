// Loops the agent runs by itself (Loop.swift): each iteration performs every step with the same
// performer as a single request, fills loop slots from what the steps produce, and keeps a latency
// histogram per step (LatencyBuckets.swift). One answer at the end.
package main

import (
	"math/bits"
	"strconv"
	"strings"
)

const subBuckets = 8
const bucketCount = 64 * subBuckets

func bucket(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	octave := 63 - bits.LeadingZeros64(ns) // >= 3
	sub := int((ns >> uint(octave-3)) & 7)
	b := (octave-2)*subBuckets + sub
	if b > bucketCount-1 {
		return bucketCount - 1
	}
	return b
}

type loopStep struct {
	perform  performer
	outputs  []int
	expected int64
}

// decodeLoop reads `count` and `ops`: each op is an encoded operation with `as` (slots) and `xe`.
func decodeLoop(m *message) (int, []loopStep, string) {
	r := &fields{m: m}
	count := int(r.int64("count"))
	if count < 1 {
		r.malformed("count")
	}
	opsText, ok := m.get("ops")
	if !ok {
		return 0, nil, "loop: missing field 'ops'"
	}
	var steps []loopStep
	if opsText != "" {
		for _, part := range strings.Split(opsText, ",") {
			packet, ok := hexDecode(part)
			if !ok {
				return 0, nil, "loop: malformed field 'ops'"
			}
			op, ok := decodeMessage(packet)
			if !ok {
				return 0, nil, "loop: unparsable op"
			}
			var outputs []int
			if as, _ := op.get("as"); as != "" {
				for _, slot := range strings.Split(as, ",") {
					n, err := strconv.Atoi(slot)
					if err != nil {
						n = -1
					}
					if n >= loopSlotCount {
						return 0, nil, "loop: slot out of range"
					}
					outputs = append(outputs, n)
				}
			}
			// A descriptor field naming a slot beyond the 64 is refused as the Swift decoder words it.
			for _, f := range op.fields {
				if strings.HasPrefix(f.value, "@") {
					if n, err := strconv.Atoi(f.value[1:]); err == nil && n >= loopSlotCount {
						return 0, nil, "loop: slot " + f.value[1:] + " out of range"
					}
				}
			}
			stepFields := &fields{m: &op}
			expected := int64(stepFields.int32Or("xe", 0))
			perform, problem := decodeOperation(&op, true)
			if problem != "" {
				return 0, nil, "loop: " + problem
			}
			steps = append(steps, loopStep{perform, outputs, expected})
		}
	}
	if r.problem != "" {
		return 0, nil, "loop: " + r.problem
	}
	return count, steps, ""
}

func (a *agent) runLoop(count int, steps []loopStep) *message {
	a.slots = make([]int32, loopSlotCount)
	for i := range a.slots {
		a.slots[i] = -1
	}
	a.keepData = false
	defer func() { a.keepData = true }()
	histogram := make([]uint64, len(steps)*bucketCount)
	failures := 0
	first := ""
	var ans answer
	started := monotonic()
	for iteration := 0; iteration < count; iteration++ {
		for index, step := range steps {
			ans.reset()
			step.perform(a, &ans)
			if ans.noAnswer {
				continue
			}
			if ans.refusal != "" {
				failures++
				if first == "" {
					first = "iteration " + itoa(iteration+1) + ", step " + itoa(index+1) + ": refused (" + ans.refusal + ")"
				}
				continue
			}
			histogram[index*bucketCount+bucket(ans.ns)]++
			if int64(ans.errno) != step.expected {
				failures++
				if first == "" {
					first = "iteration " + itoa(iteration+1) + ", step " + itoa(index+1) + ": errno " +
						itoa(int(ans.errno)) + ", expected " + itoa(int(step.expected))
				}
			}
			// Descriptors without a slot stay open, as the kernel installed them: the model expects them.
			for position, slot := range step.outputs {
				if slot >= 0 && slot < len(a.slots) {
					if position < len(ans.fds) {
						a.slots[slot] = ans.fds[position]
					} else {
						a.slots[slot] = -1
					}
				}
			}
		}
	}
	elapsed := monotonic() - started
	m := &message{verb: "ok"}
	m.setInt("r", 0)
	m.setInt("e", 0)
	m.setInt("iterations", int64(count))
	m.setInt("failures", int64(failures))
	m.setBytes("first", []byte(first))
	m.setUint("wall", elapsed)
	perStep := make([]string, len(steps))
	for index := range steps {
		var pairs []string
		for b := 0; b < bucketCount; b++ {
			if n := histogram[index*bucketCount+b]; n > 0 {
				pairs = append(pairs, itoa(b)+":"+strconv.FormatUint(n, 10))
			}
		}
		perStep[index] = strings.Join(pairs, ",")
	}
	m.set("hist", strings.Join(perStep, ";"))
	m.setInts("locals", a.slots)
	return m
}
