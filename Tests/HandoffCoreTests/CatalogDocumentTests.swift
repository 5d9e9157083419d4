import Foundation
import Testing
@testable import HandoffCore

/// docs/catalog.md's table of folders says how many files and cases each holds; it must stay true as the
/// catalog grows (several branches adding folders at once made the totals drift before).
struct CatalogDocumentTests {
    @Test func theCatalogTableCountsWhatIsThere() throws {
        let text = try String(contentsOfFile: packageRoot + "/docs/catalog.md", encoding: .utf8)
        var documented: [String: (files: Int, cases: Int)] = [:]
        var total: (folders: Int, files: Int, cases: Int)?
        for line in text.split(separator: "\n") where line.hasPrefix("|") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 6 else { continue }
            let digits = { (cell: String) in Int(cell.replacingOccurrences(of: "*", with: "")) }
            if cells[3].hasPrefix("**"), let files = digits(cells[4]), let cases = digits(cells[5]) {
                let folders = Int(cells[3].replacingOccurrences(of: "*", with: "").split(separator: " ").first ?? "") ?? -1
                total = (folders, files, cases)
            } else if cells[3].hasSuffix("/"), let files = Int(cells[4]), let cases = Int(cells[5]) {
                documented[String(cells[3].dropLast())] = (files, cases)
            }
        }
        let load = Suite.load([packageRoot + "/scenarios"])
        #expect(load.errors.isEmpty)
        var actual: [String: (files: Int, cases: Int)] = [:]
        var files: [String: Set<String>] = [:]
        for scenario in load.scenarios {
            let folder = String(scenario.name.split(separator: "/").first ?? "")
            files[folder, default: []].insert(scenario.file)
            actual[folder, default: (0, 0)].cases += 1
        }
        for (folder, set) in files { actual[folder]?.files = set.count }
        let expected = actual.keys.sorted().map { "\($0)/ \(actual[$0]!.files) \(actual[$0]!.cases)" }.joined(separator: "; ")
        #expect(Set(documented.keys) == Set(actual.keys), "folders: documented \(documented.keys.sorted()), actual \(actual.keys.sorted())")
        for (folder, counts) in actual {
            #expect(documented[folder]?.files == counts.files && documented[folder]?.cases == counts.cases,
                    "\(folder)/: documented \(String(describing: documented[folder])), actual \(counts) (all: \(expected))")
        }
        let sum = actual.values.reduce((0, 0)) { ($0.0 + $1.files, $0.1 + $1.cases) }
        #expect(total?.folders == actual.count && total?.files == sum.0 && total?.cases == sum.1,
                "total: documented \(String(describing: total)), actual \(actual.count) folders, \(sum.0) files, \(sum.1) cases")
    }
}
