// Which kernel `run --kernel PATH|VERSION` boots. `make kernels` (tools/kernels.sh) leaves one directory per
// Debian linux-image package in the cache: <cache>/<release>/vmlinuz (the package's bzImage), vmlinux (the
// uncompressed kernel cut out of it) and config.

import Glibc

/// A kernel image to boot, and what to call it in reports.
public struct KernelImage: Sendable, Equatable {
    /// The package's release (`6.1.0-57-amd64`), or the file's name for a path.
    public var release: String
    /// What qemu's `-kernel` gets.
    public var bootPath: String

    public init(release: String, bootPath: String) {
        self.release = release
        self.bootPath = bootPath
    }
}

public enum KernelCache {
    /// Where `make kernels` puts them, relative to the package directory.
    public static let defaultDirectory = ".build/kernels"

    /// The releases cached in `directory`, oldest version first.
    public static func releases(in directory: String) -> [String] {
        let names = (directoryNames(directory) ?? []).filter { name in
            !name.hasPrefix(".") && bootFile(in: directory + "/" + name) != nil
        }
        return names.sorted { versionNumbers($0).lexicographicallyPrecedes(versionNumbers($1)) }
    }

    /// The uncompressed `vmlinux` when there is one, else the bzImage. Debian's bzImage decompresses itself
    /// before it starts, which under TCG costs seconds (6.12, zstd: about 4 s) to half a minute (6.1, xz); qemu
    /// boots the uncompressed ELF directly through its PVH entry point (both kernels have CONFIG_PVH).
    static func bootFile(in directory: String) -> String? {
        for name in ["vmlinux", "vmlinuz"] where access(directory + "/" + name, R_OK) == 0 {
            return directory + "/" + name
        }
        return nil
    }

    /// `6.1.0-57-amd64` -> [6, 1, 0, 57]: the leading numbers, for ordering releases.
    static func versionNumbers(_ release: String) -> [Int] {
        var numbers: [Int] = []
        var current: Int?
        for character in release {
            if let digit = character.wholeNumberValue, character.isASCII {
                current = (current ?? 0) * 10 + digit
            } else {
                if let value = current { numbers.append(value) }
                current = nil
                // Up to the first letter: `+deb12`, `-amd64` are not part of the version.
                if character.isLetter { break }
            }
        }
        if let value = current { numbers.append(value) }
        return numbers
    }

    /// Whether VERSION names this release: the whole release, or its leading numbers (`6.1` names
    /// `6.1.0-57-amd64` but not `6.12.117+deb12-amd64`; `6.12.117` names the latter).
    static func matches(release: String, version: String) -> Bool {
        if release == version { return true }
        let wanted = versionNumbers(version)
        guard !wanted.isEmpty, version.allSatisfy({ $0.isNumber || $0 == "." }) else { return false }
        return versionNumbers(release).starts(with: wanted)
    }

    /// PATH (anything with a `/`, or an existing file) is booted as it is; VERSION is looked up in the cache,
    /// the newest match winning.
    public static func resolve(_ specification: String, cacheDirectory: String) throws(VMError) -> KernelImage {
        var info = stat()
        if specification.contains("/") || stat(specification, &info) == 0 {
            guard stat(specification, &info) == 0 else {
                throw .kernelNotFound("no kernel image at '\(specification)'")
            }
            guard info.st_mode & S_IFMT == S_IFREG, access(specification, R_OK) == 0 else {
                throw .kernelNotFound("'\(specification)' is not a readable file (a kernel image, bzImage or vmlinux)")
            }
            let name = specification.split(separator: "/").last.map(String.init) ?? specification
            return KernelImage(release: name, bootPath: specification)
        }
        let cached = releases(in: cacheDirectory)
        guard let release = cached.last(where: { matches(release: $0, version: specification) }),
            let boot = bootFile(in: cacheDirectory + "/" + release)
        else {
            let have = cached.isEmpty ? "none is cached there" : "cached: " + cached.joined(separator: ", ")
            throw .kernelNotFound("no kernel '\(specification)' in \(cacheDirectory) (\(have)); `make kernels` "
                + "fetches Debian's 6.1 and 6.12, or give the path of a kernel image")
        }
        return KernelImage(release: release, bootPath: boot)
    }
}
