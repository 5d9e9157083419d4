// How the guest of `run --kernel` hands its report to the host: through memory both share, an ivshmem PCI
// device whose memory is a file on the host (qemu's memory-backend-file, shared).
//
// Why not the second serial port it used before: every byte through the emulated 8250 UART is an I/O port
// write with its interrupt work in the guest and a write(2) on the host, about 1.8 us a byte under TCG, so
// the 1.4 MB report of the whole catalog went out gzip'd and in base64 and still took 0.6-0.7 s of every run
// (gzip 0.13 s, the port 0.58 s). A copy into the shared memory takes 0.02 s and needs neither. The guest
// needs no driver: the kernel enumerates the PCI device, and its memory is mapped through sysfs
// (/sys/bus/pci/devices/*/resource2, pci_mmap_resource_range).
//
// The layout: the magic (8 bytes), the payload's length (8 bytes, little-endian), the payload. The guest
// writes the payload, then the length, then the magic, so that a guest stopped half-way leaves no magic and
// the host reports a cut-short transfer rather than read a partial report.

import Glibc

public enum ReportRegion {
    /// The region's size: a power of two, as ivshmem's BAR must be. The whole catalog's report is 1.4 MB; the
    /// host file is sparse, so only what the guest writes takes memory.
    public static let bytes = 64 << 20
    static let magic = Array("HOFFRPT1".utf8)
    static let headerBytes = 16
    /// qemu's ivshmem-plain: the Red Hat virtio vendor and ivshmem's device id (docs/specs/ivshmem-spec.rst).
    static let vendor = "0x1af4"
    static let device = "0x1110"

    /// qemu's arguments that give the guest the region backed by `path` (created and sized by `prepare`).
    public static func qemuArguments(path: String) -> [String] {
        ["-object", "memory-backend-file,id=reports,share=on,mem-path=\(path),size=\(bytes)",
         "-device", "ivshmem-plain,memdev=reports"]
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case noDevice
        case cannotMap(String)
        /// The host's file behind the region cannot be created, sized or opened.
        case hostFile(String)
        case tooLarge(payload: Int, region: Int)
        case empty
        case cutShort(String)

        public var description: String {
            switch self {
            case .noDevice: return "the guest has no report region (no ivshmem PCI device \(ReportRegion.vendor):\(ReportRegion.device))"
            case .cannotMap(let why): return "cannot map the report region: \(why)"
            case .hostFile(let why): return "the report region's file: \(why)"
            case .tooLarge(let payload, let region):
                return "the report (\(payload) bytes) is larger than the report region (\(region - ReportRegion.headerBytes) bytes)"
            case .empty: return "no report came back (the report region is empty)"
            case .cutShort(let why): return "the report transfer was cut short (\(why))"
            }
        }
    }

    // MARK: The host's side

    /// Creates the region's file, sparse and of the region's size, before qemu starts.
    public static func prepare(path: String) -> Failure? {
        let descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return .hostFile("cannot create \(path): \(Errno.name(of: errno))") }
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(bytes)) == 0 else {
            return .hostFile("cannot size \(path): \(Errno.name(of: errno))")
        }
        return nil
    }

    /// The payload the guest left in the region's file, after qemu has ended.
    public static func read(path: String) throws(Failure) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .hostFile("cannot open \(path): \(Errno.name(of: errno))") }
        defer { close(descriptor) }
        var header = [UInt8](repeating: 0, count: headerBytes)
        guard pread(descriptor, &header, headerBytes, 0) == headerBytes else { throw .empty }
        if header.allSatisfy({ $0 == 0 }) { throw .empty }
        guard Array(header[0..<8]) == magic else { throw .cutShort("no magic at the region's start") }
        let length = header[8..<16].reversed().reduce(0) { $0 << 8 | Int($1) }
        guard length >= 0, length <= bytes - headerBytes else { throw .cutShort("a length of \(length) bytes") }
        var payload = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let count = payload.withUnsafeMutableBytes {
                pread(descriptor, $0.baseAddress! + done, length - done, off_t(headerBytes + done))
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw .cutShort("the file ends after \(done) of \(length) bytes") }
            done += count
        }
        return payload
    }

    // MARK: The guest's side

    /// Copies `payload` into the region (the guest's inner `handoff run` does, as its last act).
    public static func write(_ payload: [UInt8], devices: String = "/sys/bus/pci/devices") throws(Failure) {
        guard let folder = findDevice(in: devices) else { throw .noDevice }
        // Memory decoding may be off for a device without a driver: enabling it is what a driver's probe does
        // first (pci_enable_device). Already on, it is a no-op; refused, the mapping below says why.
        writeFile(folder + "/enable", "1")
        let descriptor = open(folder + "/resource2", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw .cannotMap("\(folder)/resource2: \(Errno.name(of: errno))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .cannotMap("fstat: \(Errno.name(of: errno))") }
        let size = Int(status.st_size)
        guard payload.count <= size - headerBytes else { throw .tooLarge(payload: payload.count, region: size) }
        let length = headerBytes + payload.count
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), base != MAP_FAILED else {
            throw .cannotMap("mmap: \(Errno.name(of: errno))")
        }
        defer { munmap(base, length) }
        let region = base.assumingMemoryBound(to: UInt8.self)
        if !payload.isEmpty {
            payload.withUnsafeBufferPointer { (region + headerBytes).update(from: $0.baseAddress!, count: payload.count) }
        }
        var count = UInt64(payload.count).littleEndian
        withUnsafeBytes(of: &count) { (region + 8).update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 8) }
        magic.withUnsafeBufferPointer { region.update(from: $0.baseAddress!, count: 8) }
    }

    /// The sysfs folder of the ivshmem device, by its vendor and device ids.
    static func findDevice(in devices: String) -> String? {
        guard let directory = opendir(devices) else { return nil }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name.hasPrefix(".") { continue }
            let folder = devices + "/" + name
            if firstLine(folder + "/vendor") == vendor, firstLine(folder + "/device") == device { return folder }
        }
        return nil
    }

    private static func firstLine(_ path: String) -> String? {
        readFile(path, limit: 64).flatMap { String(decoding: $0, as: UTF8.self).split(separator: "\n").first.map(String.init) }
    }
}
