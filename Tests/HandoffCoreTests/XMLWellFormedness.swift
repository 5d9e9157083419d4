/// A small, strict checker of XML 1.0 well-formedness, in Swift (Foundation's XMLDocument is not on Linux,
/// and XMLParser's libxml2 is not the point of a test about our own output). It checks what a JUnit reader
/// relies on: every character is one XML 1.0 allows (the Char production), markup is balanced with matching
/// end tags, attribute values are quoted and hold no `<`, attribute names are unique per element, every `&`
/// starts a predefined entity or a character reference to an allowed character, `]]>` appears only to close
/// a CDATA section, comments hold no `--`, and there is exactly one root element. DTDs are not supported
/// (they are an error).
enum XMLWellFormedness {
    struct Failure: Error, CustomStringConvertible {
        var offset: Int
        var message: String
        var description: String { "offset \(offset): \(message)" }
    }

    static func check(_ text: String) throws(Failure) {
        var checker = Checker(Array(text.unicodeScalars))
        try checker.document()
    }

    static func isChar(_ value: UInt32) -> Bool {
        switch value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    private struct Checker {
        let scalars: [Unicode.Scalar]
        var position = 0

        init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

        func fail(_ message: String) -> Failure { Failure(offset: position, message: message) }
        var atEnd: Bool { position >= scalars.count }
        var current: Unicode.Scalar? { atEnd ? nil : scalars[position] }

        func starts(with text: String) -> Bool {
            let wanted = Array(text.unicodeScalars)
            return position + wanted.count <= scalars.count && Array(scalars[position..<position + wanted.count]) == wanted
        }

        mutating func expect(_ text: String) throws(Failure) {
            guard starts(with: text) else { throw fail("expected '\(text)'") }
            position += text.unicodeScalars.count
        }

        mutating func skipSpace() -> Bool {
            let start = position
            while let scalar = current, [" ", "\t", "\n", "\r"].contains(scalar) { position += 1 }
            return position > start
        }

        mutating func document() throws(Failure) {
            for (offset, scalar) in scalars.enumerated() where !XMLWellFormedness.isChar(scalar.value) {
                throw Failure(offset: offset, message: "U+\(String(scalar.value, radix: 16, uppercase: true)) is not an XML 1.0 character")
            }
            if starts(with: "<?xml") {
                try processingInstruction()
            }
            try misc()
            guard current == "<" else { throw fail("expected the root element") }
            try element()
            try misc()
            if !atEnd { throw fail("content after the root element") }
        }

        mutating func misc() throws(Failure) {
            while true {
                _ = skipSpace()
                if starts(with: "<!--") {
                    try comment()
                } else if starts(with: "<?") {
                    try processingInstruction()
                } else if starts(with: "<!") {
                    throw fail("DTDs and other declarations are not supported")
                } else {
                    return
                }
            }
        }

        mutating func name() throws(Failure) -> String {
            guard let first = current, isNameStart(first) else { throw fail("expected a name") }
            position += 1
            var text = String(first)
            while let scalar = current, isNameStart(scalar) || isNameChar(scalar) {
                text.unicodeScalars.append(scalar)
                position += 1
            }
            return text
        }

        func isNameStart(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x41...0x5A, 0x61...0x7A, 0x5F, 0x3A, 0xC0...0xD6, 0xD8...0xF6, 0xF8...0x2FF, 0x370...0x37D,
                0x37F...0x1FFF, 0x200C...0x200D, 0x2070...0x218F, 0x2C00...0x2FEF, 0x3001...0xD7FF,
                0xF900...0xFDCF, 0xFDF0...0xFFFD, 0x10000...0xEFFFF:
                return true
            default: return false
            }
        }

        func isNameChar(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x30...0x39, 0x2D, 0x2E, 0xB7, 0x300...0x36F, 0x203F...0x2040: return true
            default: return false
            }
        }

        mutating func element() throws(Failure) {
            try expect("<")
            let tag = try name()
            var attributes = Set<String>()
            while true {
                let spaced = skipSpace()
                if starts(with: "/>") {
                    position += 2
                    return
                }
                if current == ">" {
                    position += 1
                    break
                }
                guard spaced else { throw fail("expected whitespace, '>' or '/>' in <\(tag)>") }
                let attribute = try name()
                guard attributes.insert(attribute).inserted else { throw fail("duplicate attribute '\(attribute)'") }
                _ = skipSpace()
                try expect("=")
                _ = skipSpace()
                guard let quote = current, quote == "\"" || quote == "'" else { throw fail("unquoted attribute value") }
                position += 1
                while true {
                    guard let scalar = current else { throw fail("unterminated attribute value") }
                    if scalar == quote {
                        position += 1
                        break
                    }
                    if scalar == "<" { throw fail("'<' in an attribute value") }
                    if scalar == "&" { try reference() } else { position += 1 }
                }
            }
            try content()
            try expect("</")
            let end = try name()
            guard end == tag else { throw fail("</\(end)> closes <\(tag)>") }
            _ = skipSpace()
            try expect(">")
        }

        mutating func content() throws(Failure) {
            while true {
                guard let scalar = current else { throw fail("unterminated element") }
                if starts(with: "</") { return }
                if starts(with: "<!--") {
                    try comment()
                } else if starts(with: "<![CDATA[") {
                    position += 9
                    while !starts(with: "]]>") {
                        if atEnd { throw fail("unterminated CDATA section") }
                        position += 1
                    }
                    position += 3
                } else if starts(with: "<?") {
                    try processingInstruction()
                } else if scalar == "<" {
                    try element()
                } else if scalar == "&" {
                    try reference()
                } else if starts(with: "]]>") {
                    throw fail("']]>' in character data")
                } else {
                    position += 1
                }
            }
        }

        mutating func reference() throws(Failure) {
            try expect("&")
            if current == "#" {
                position += 1
                var radix = 10
                if current == "x" {
                    radix = 16
                    position += 1
                }
                var digits = ""
                while let scalar = current, scalar != ";" {
                    digits.unicodeScalars.append(scalar)
                    position += 1
                }
                try expect(";")
                guard let value = UInt32(digits, radix: radix), XMLWellFormedness.isChar(value) else {
                    throw fail("character reference '&#\(radix == 16 ? "x" : "")\(digits);' is not an XML 1.0 character")
                }
                return
            }
            let entity = try name()
            try expect(";")
            guard ["amp", "lt", "gt", "quot", "apos"].contains(entity) else { throw fail("undeclared entity '&\(entity);'") }
        }

        mutating func comment() throws(Failure) {
            try expect("<!--")
            while !starts(with: "-->") {
                if atEnd { throw fail("unterminated comment") }
                if starts(with: "--") { throw fail("'--' inside a comment") }
                position += 1
            }
            position += 3
        }

        mutating func processingInstruction() throws(Failure) {
            try expect("<?")
            _ = try name()
            while !starts(with: "?>") {
                if atEnd { throw fail("unterminated processing instruction") }
                position += 1
            }
            position += 2
        }
    }
}
