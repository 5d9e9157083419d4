/// junit.xml as CI systems read it: one <testsuite> per scenario folder, one <testcase> per scenario;
/// the first finding is the failure message and the whole diff is its body; skips carry their reason.
public enum JUnitReport {
    public static func render(_ report: RunReport) -> String {
        var folders: [String: [ScenarioResult]] = [:]
        for result in report.scenarios { folders[folder(of: result.name), default: []].append(result) }
        let summary = report.summary
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites name=\"handoff\" tests=\"\(summary.total)\" failures=\"\(summary.failed)\" "
            + "errors=\"\(summary.errors)\" skipped=\"\(summary.skipped)\" time=\"\(seconds(report.durationSeconds))\">\n"
        for name in folders.keys.sorted() {
            let results = folders[name]!
            let part = RunReport.Summary(results)
            let time = results.reduce(0) { $0 + $1.durationSeconds }
            xml += "  <testsuite name=\"\(escape(name))\" tests=\"\(part.total)\" failures=\"\(part.failed)\" "
                + "errors=\"\(part.errors)\" skipped=\"\(part.skipped)\" time=\"\(seconds(time))\">\n"
            for result in results {
                xml += "    <testcase classname=\"\(escape(name))\" name=\"\(escape(result.name))\" "
                    + "file=\"\(escape(result.file))\" time=\"\(seconds(result.durationSeconds))\""
                switch result.status {
                case .pass:
                    xml += "/>\n"
                    continue
                case .skip:
                    xml += ">\n      <skipped message=\"\(escape(result.reason ?? "skipped"))\"/>\n"
                case .fail:
                    let first = result.findings.first.map { "\($0.step.file):\($0.step.line): \($0.summary)" }
                        ?? (result.reason ?? "failed")
                    xml += ">\n      <failure type=\"\(result.findings.first?.kind.rawValue ?? "FAIL")\" "
                        + "message=\"\(escape(first))\">\(escape(result.diff, attribute: false))</failure>\n"
                case .error, .timeout:
                    xml += ">\n      <error type=\"\(result.status.rawValue)\" message=\"\(escape(result.reason ?? "error"))\">"
                        + "\(escape(result.diff, attribute: false))</error>\n"
                }
                if let log = result.agentLog { xml += "      <system-err>\(escape(log, attribute: false))</system-err>\n" }
                xml += "    </testcase>\n"
            }
            xml += "  </testsuite>\n"
        }
        xml += "</testsuites>\n"
        return xml
    }

    /// `scm-rights/basic` belongs to `scm-rights`; a top-level scenario to `scenarios`.
    static func folder(of name: String) -> String {
        guard let slash = name.lastIndex(of: "/") else { return "scenarios" }
        return String(name[..<slash])
    }

    static func seconds(_ value: Double) -> String {
        String(format: "%.3f", value)
    }

    /// Text for an attribute value or element content. Markup characters become entities; characters XML 1.0
    /// does not allow at all, even as references (control characters but tab, newline and carriage return;
    /// U+FFFE, U+FFFF; surrogates), become U+FFFD, so that the file stays well-formed whatever an agent log
    /// or a file name contains. In attribute values tab and newline are written as references, which parsers
    /// keep (a literal one would be normalized to a space); a carriage return always is (a literal one becomes
    /// a newline).
    static func escape(_ text: String, attribute: Bool = true) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n": out += attribute ? "&#10;" : "\n"
            case "\t": out += attribute ? "&#9;" : "\t"
            case "\r": out += "&#13;"
            default:
                if isXMLCharacter(scalar.value) { out.unicodeScalars.append(scalar) } else { out += "\u{FFFD}" }
            }
        }
        return out
    }

    /// XML 1.0's Char production.
    static func isXMLCharacter(_ value: UInt32) -> Bool {
        switch value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
        default: return false
        }
    }
}

import Foundation
