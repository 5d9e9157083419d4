import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// The report's way from a `run --kernel` guest to the host, without booting: the guest's side against a
/// sysfs folder laid out as the kernel lays out a PCI device (its resource2 a plain file, which maps as
/// the BAR does), the host's side against what the guest left.
@Suite struct ReportRegionTests {
    /// A fake /sys/bus/pci/devices with an unrelated device and, unless `ivshmem` is false, the region's
    /// device with a resource2 of `bytes`.
    func devices(ivshmem: Bool = true, bytes: Int = 1 << 20) throws -> (folder: String, resource: String) {
        let folder = NSTemporaryDirectory() + "handoff-region-test-\(UUID().uuidString)"
        for (name, vendor, device) in [("0000:00:01.0", "0x8086", "0x7000"), ("0000:00:02.0", "0x1af4", "0x1110")]
        where ivshmem || vendor == "0x8086" {
            let path = folder + "/" + name
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try (vendor + "\n").write(toFile: path + "/vendor", atomically: true, encoding: .utf8)
            try (device + "\n").write(toFile: path + "/device", atomically: true, encoding: .utf8)
            try "0\n".write(toFile: path + "/enable", atomically: true, encoding: .utf8)
            #expect(FileManager.default.createFile(atPath: path + "/resource2", contents: Data(count: bytes)))
        }
        return (folder, folder + "/0000:00:02.0/resource2")
    }

    @Test func aPayloadGoesThroughTheRegionUnchanged() throws {
        let (folder, resource) = try devices()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let payload = Array("{\"scenarios\":[]}".utf8) + (0..<70_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try ReportRegion.write(payload, devices: folder)
        #expect(try ReportRegion.read(path: resource) == payload)
        // The device's memory decoding was switched on, as a driver would.
        #expect(try String(contentsOfFile: folder + "/0000:00:02.0/enable", encoding: .utf8).hasPrefix("1"))
        // An empty report is a report of zero bytes, not an empty region.
        try ReportRegion.write([], devices: folder)
        #expect(try ReportRegion.read(path: resource) == [])
    }

    @Test func whatTheGuestCannotSendIsSaid() throws {
        let (without, _) = try devices(ivshmem: false)
        defer { try? FileManager.default.removeItem(atPath: without) }
        #expect(throws: ReportRegion.Failure.noDevice) { try ReportRegion.write([1], devices: without) }
        let (folder, _) = try devices(bytes: 4096)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(throws: ReportRegion.Failure.tooLarge(payload: 4081, region: 4096)) {
            try ReportRegion.write([UInt8](repeating: 1, count: 4081), devices: folder)
        }
        try ReportRegion.write([UInt8](repeating: 1, count: 4080), devices: folder)
    }

    @Test func theHostTellsAnEmptyRegionFromACutShortOne() throws {
        let (folder, resource) = try devices()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // No file at all: the host's own problem, said as such.
        #expect(ReportRegion.prepare(path: folder + "/missing/reports.shm") == .hostFile("cannot create \(folder)/missing/reports.shm: ENOENT"))
        #expect(throws: ReportRegion.Failure.hostFile("cannot open \(folder)/none: ENOENT")) { try ReportRegion.read(path: folder + "/none") }
        // The guest never wrote: the region is as the host made it.
        #expect(ReportRegion.prepare(path: resource) == nil)
        #expect(throws: ReportRegion.Failure.empty) { try ReportRegion.read(path: resource) }
        // The guest stopped before the magic: payload and length written, the magic not.
        try ReportRegion.write(Array("{}".utf8), devices: folder)
        let descriptor = open(resource, O_WRONLY)
        #expect(pwrite(descriptor, [UInt8](repeating: 0, count: 8), 8, 0) == 8)
        close(descriptor)
        #expect(throws: ReportRegion.Failure.cutShort("no magic at the region's start")) { try ReportRegion.read(path: resource) }
        // A length beyond the region.
        try ReportRegion.write(Array("{}".utf8), devices: folder)
        let again = open(resource, O_WRONLY)
        #expect(pwrite(again, [UInt8](repeating: 0xff, count: 8), 8, 8) == 8)
        close(again)
        #expect(throws: ReportRegion.Failure.cutShort("a length of -1 bytes")) { try ReportRegion.read(path: resource) }
        // The host's file is sparse and of the region's size.
        var status = stat()
        #expect(ReportRegion.prepare(path: resource) == nil && stat(resource, &status) == 0)
        #expect(Int(status.st_size) == ReportRegion.bytes && Int(status.st_blocks) * 512 < 1 << 20)
    }
}
