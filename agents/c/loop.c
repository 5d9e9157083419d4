// `loop count ops hidden` (Loop.swift): the encoded operations are decoded once, then each iteration
// performs every step with the same perform() as a single request, fills loop slots from what the steps
// produce, and keeps a latency histogram per step (LatencyBuckets.swift). One answer at the end.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

struct step {
    struct op op;
    int outputs[LOOP_SLOTS];  // the slot of each produced descriptor; -1 unnamed
    int noutputs;
    int expected;             // xe: the errno every iteration expects
    char *packet;             // the step's packet, out of hex (fields point into it)
    size_t hex_length;
};

// 8 sub-buckets per power of two (LatencyBuckets.bucket).
static int latency_bucket(unsigned long long ns) {
    if (ns < 8) return (int)ns;
    int octave = 63 - __builtin_clzll(ns);
    int sub = (int)((ns >> (octave - 3)) & 7);
    int bucket = (octave - 2) * 8 + sub;
    return bucket < LATENCY_BUCKETS - 1 ? bucket : LATENCY_BUCKETS - 1;
}

// Decodes one step, its packet already out of hex; NULL or why not.
static const char *decode_step(struct step *step, char *why, size_t why_size) {
    struct message message;
    if (message_parse(step->packet, step->hex_length / 2, &message) != 0) {
        snprintf(why, why_size, "loop: unparsable op");
        return why;
    }
    // `as`: comma-separated slots, a non-number counting as -1 (unnamed).
    const char *as = message_get(&message, "as");
    step->noutputs = 0;
    for (const char *part = as; part != NULL && *part != '\0';) {
        const char *comma = strchr(part, ',');
        size_t n = comma ? (size_t)(comma - part) : strlen(part);
        if (n > 0) {
            char word[24] = "";
            long long slot = -1;
            if (n < sizeof word) {
                memcpy(word, part, n);
                if (parse_int64(word, &slot) != 0) slot = -1;
            }
            if (slot >= LOOP_SLOTS) {
                snprintf(why, why_size, "loop: slot out of range");
                return why;
            }
            if (step->noutputs < LOOP_SLOTS) step->outputs[step->noutputs++] = (int)slot;
        }
        part = comma ? comma + 1 : NULL;
    }
    const char *xe = message_get(&message, "xe");
    long long expected = 0;
    // Malformed or out of range counts as 0, as the Swift decoder's int32("xe", default: 0) does.
    if (xe == NULL || parse_int64(xe, &expected) != 0 || expected < -2147483647 - 1 || expected > 2147483647)
        expected = 0;
    step->expected = (int)expected;
    char reason[256];
    if (op_decode(&message, &step->op, 1, reason, sizeof reason) != NULL) {
        snprintf(why, why_size, "loop: %s", reason);
        return why;
    }
    int slot = step->op.fd.slot >= LOOP_SLOTS ? step->op.fd.slot : step->op.other.slot;
    for (int i = 0; i < step->op.nfds && slot < LOOP_SLOTS; i++) slot = step->op.fds[i].slot;
    if (slot >= LOOP_SLOTS) {
        snprintf(why, why_size, "loop: slot %d out of range", slot);
        return why;
    }
    return NULL;
}

void run_loop(const struct message *message, struct out *out) {
    static char why[320];
    const char *count_text = message_get(message, "count");
    const char *ops = message_get(message, "ops");
    long long count = 0;
    if (count_text != NULL && parse_int64(count_text, &count) != 0) count = 0;
    if (ops == NULL) { reply_bad("loop: missing field 'ops'"); return; }
    if (count < 1) { reply_bad(count_text ? "loop: malformed field 'count'" : "loop: missing field 'count'"); return; }

    int nsteps = 0;
    for (const char *p = ops; *ops && p; p = strchr(p, ',')) { nsteps++; p++; }
    struct step *steps = calloc((size_t)(nsteps ? nsteps : 1), sizeof *steps);
    unsigned long long *buckets = calloc((size_t)(nsteps ? nsteps : 1) * LATENCY_BUCKETS, sizeof *buckets);
    int slots[LOOP_SLOTS];
    struct answer *answer = malloc(sizeof *answer);
    if (steps == NULL || buckets == NULL || answer == NULL) fatal("out of memory");
    const char *problem = NULL;
    const char *part = ops;
    // Every step's hex first: a list that is not hex is no list at all (Swift: a missing `ops`).
    for (int i = 0; i < nsteps && problem == NULL; i++) {
        const char *comma = strchr(part, ',');
        size_t n = comma ? (size_t)(comma - part) : strlen(part);
        steps[i].packet = malloc(n / 2 + 1);
        if (steps[i].packet == NULL) fatal("out of memory");
        if (hex_decode(part, n, (unsigned char *)steps[i].packet) != 0) problem = "loop: missing field 'ops'";
        steps[i].hex_length = n;
        part = comma ? comma + 1 : part + n;
    }
    for (int i = 0; i < nsteps && problem == NULL; i++)
        problem = decode_step(&steps[i], why, sizeof why);
    if (problem != NULL) {
        reply_bad(problem);
    } else {
        for (int i = 0; i < LOOP_SLOTS; i++) slots[i] = -1;
        agent.slots = slots;
        long long failures = 0;
        char first[160] = "";
        unsigned long long started = monotonic_ns();
        for (long long iteration = 0; iteration < count; iteration++) {
            for (int index = 0; index < nsteps; index++) {
                struct step *step = &steps[index];
                answer_reset(answer);
                agent.refusal = NULL;
                if (!perform(&step->op, answer)) continue;
                if (agent.refusal != NULL) {
                    failures++;
                    if (first[0] == '\0')
                        snprintf(first, sizeof first, "iteration %lld, step %d: refused (%s)", iteration + 1, index + 1,
                                 agent.refusal);
                    agent.refusal = NULL;
                    continue;
                }
                buckets[index * LATENCY_BUCKETS + latency_bucket(answer->ns)]++;
                if (answer->error != step->expected) {
                    failures++;
                    if (first[0] == '\0')
                        snprintf(first, sizeof first, "iteration %lld, step %d: errno %d, expected %d", iteration + 1,
                                 index + 1, answer->error, step->expected);
                }
                // Descriptors without a slot stay open, as the kernel installed them: the model expects them.
                for (int position = 0; position < step->noutputs; position++) {
                    int slot = step->outputs[position];
                    if (slot >= 0) slots[slot] = position < answer->nfds ? answer->fds[position] : -1;
                }
            }
        }
        unsigned long long wall = monotonic_ns() - started;
        agent.slots = NULL;
        out_reset(out);
        out_text(out, "ok r=0 e=0");
        out_key(out, "iterations");
        out_int(out, count);
        out_key(out, "failures");
        out_int(out, failures);
        out_key(out, "first");
        out_hex(out, (const unsigned char *)first, strlen(first));
        out_key(out, "wall");
        out_uint(out, wall);
        out_key(out, "hist");
        for (int index = 0; index < nsteps; index++) {
            if (index > 0) out_bytes(out, ";", 1);
            int written = 0;
            for (int bucket = 0; bucket < LATENCY_BUCKETS; bucket++) {
                unsigned long long value = buckets[index * LATENCY_BUCKETS + bucket];
                if (value == 0) continue;
                if (written++ > 0) out_bytes(out, ",", 1);
                out_int(out, bucket);
                out_bytes(out, ":", 1);
                out_uint(out, value);
            }
        }
        out_key(out, "locals");
        for (int i = 0; i < LOOP_SLOTS; i++) {
            if (i > 0) out_bytes(out, ",", 1);
            out_int(out, slots[i]);
        }
        reply(out, -1);
    }
    for (int i = 0; i < nsteps; i++) {
        op_free(&steps[i].op);
        free(steps[i].packet);
    }
    free(steps);
    free(buckets);
    free(answer);
}
