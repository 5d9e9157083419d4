// Message framing (Sources/HandoffProtocol/WireMessage.swift): one packet is ASCII words separated by
// spaces, the first the verb, the rest `key=value`. Parsing happens in place: the packet buffer is cut into
// NUL-terminated keys and values, so a request costs no allocation.

#include <stdlib.h>
#include <string.h>

#include "agent.h"

// Cuts `packet` into a verb and fields. Empty words (runs of spaces) are skipped, as the Swift decoder does;
// a word without `=` makes the whole packet unparsable. Returns 0, or -1 when unparsable.
int message_parse(char *packet, size_t length, struct message *message) {
    char *end = packet + length;
    char *cursor = packet;
    message->verb = NULL;
    message->count = 0;
    while (cursor < end) {
        while (cursor < end && *cursor == ' ') cursor++;
        if (cursor >= end) break;
        char *word = cursor;
        while (cursor < end && *cursor != ' ') cursor++;
        if (memchr(word, '\0', (size_t)(cursor - word)) != NULL) return -1;
        if (cursor < end) *cursor++ = '\0';
        else *end = '\0';  // the buffer always has one spare byte past the packet
        if (message->verb == NULL) {
            message->verb = word;
            continue;
        }
        char *equals = strchr(word, '=');
        if (equals == NULL || message->count == MAX_FIELDS) return -1;
        *equals = '\0';
        message->fields[message->count].key = word;
        message->fields[message->count].value = equals + 1;
        message->count++;
    }
    return message->verb == NULL ? -1 : 0;
}

// The first field named `key` (the Swift subscript returns the first too), or NULL.
const char *message_get(const struct message *message, const char *key) {
    for (int i = 0; i < message->count; i++) {
        if (strcmp(message->fields[i].key, key) == 0) return message->fields[i].value;
    }
    return NULL;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decodes `length` hex characters into `out` (length / 2 bytes). -1 when odd or not hex.
int hex_decode(const char *text, size_t length, unsigned char *out) {
    if (length % 2 != 0) return -1;
    for (size_t i = 0; i < length; i += 2) {
        int high = hex_digit(text[i]), low = hex_digit(text[i + 1]);
        if (high < 0 || low < 0) return -1;
        out[i / 2] = (unsigned char)(high << 4 | low);
    }
    return 0;
}

static void out_reserve(struct out *out, size_t more) {
    if (out->length + more <= out->capacity) return;
    size_t capacity = out->capacity ? out->capacity : 4096;
    while (capacity < out->length + more) capacity *= 2;
    char *grown = realloc(out->bytes, capacity);
    if (grown == NULL) fatal("out of memory");
    out->bytes = grown;
    out->capacity = capacity;
}

void out_reset(struct out *out) { out->length = 0; }

void out_bytes(struct out *out, const char *bytes, size_t length) {
    out_reserve(out, length);
    memcpy(out->bytes + out->length, bytes, length);
    out->length += length;
}

void out_text(struct out *out, const char *text) { out_bytes(out, text, strlen(text)); }

void out_uint(struct out *out, unsigned long long value) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    out_reserve(out, (size_t)n);
    while (n > 0) out->bytes[out->length++] = digits[--n];
}

void out_int(struct out *out, long long value) {
    if (value < 0) {
        out_bytes(out, "-", 1);
        out_uint(out, 0ULL - (unsigned long long)value);
    } else {
        out_uint(out, (unsigned long long)value);
    }
}

void out_hex(struct out *out, const unsigned char *bytes, size_t length) {
    static const char digits[] = "0123456789abcdef";
    out_reserve(out, length * 2);
    for (size_t i = 0; i < length; i++) {
        out->bytes[out->length++] = digits[bytes[i] >> 4];
        out->bytes[out->length++] = digits[bytes[i] & 15];
    }
}

void out_key(struct out *out, const char *key) {
    out_bytes(out, " ", 1);
    out_text(out, key);
    out_bytes(out, "=", 1);
}
