#if canImport(Glibc)
import Glibc
#endif

// Paths in the scenario directory as the kernel walks them (fs/namei.c): as bytes. Swift's String compares by
// canonical equivalence ("\u{E9}" == "e\u{301}") and splits by characters ("/\u{338}" is one character, not a
// '/' and a mark), where Linux compares names byte by byte and ends a component at every '/' byte: two files
// were one to the model, and a path component was hidden from it (found porting LTP open tests).

/// A name in the scenario directory (a file, a socket file or a FIFO), or an abstract socket name: its bytes.
struct FileName: Hashable, Sendable, CustomStringConvertible {
    let bytes: [UInt8]
    init(_ bytes: some Sequence<UInt8>) { self.bytes = Array(bytes) }
    init(_ text: String) { bytes = Array(text.utf8) }
    var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// Where a path ends when the walk through the scenario directory succeeds.
enum PathEnd: Equatable {
    /// The last component, a name directly in the scenario directory (whether it exists is the caller's
    /// lookup); `trailingSlash`: the path ends in '/', so the name must be a directory (LOOKUP_DIRECTORY), and
    /// a create refuses it.
    case name(FileName, trailingSlash: Bool)
    /// The scenario directory itself ("." components only): not modelled, the parser refuses such paths.
    case directory
}

extension ReferenceModel {
    /// PATH_MAX, with the terminating NUL.
    static let pathMax = 4096
    /// NAME_MAX: the longest component (ext4, tmpfs and every filesystem the work directory may be on).
    static let nameMax = 255

    /// fs/namei.c: getname - an empty path is ENOENT and one of PATH_MAX bytes or more (its NUL included)
    /// ENAMETOOLONG, both before the descriptor number is reserved.
    static func getnameError(_ path: String) -> Int32? {
        if path.utf8.isEmpty { return ENOENT }
        if path.utf8.count + 1 > pathMax { return ENAMETOOLONG }
        return nil
    }

    /// link_path_walk from the scenario directory: every component but the last must be a directory - only the
    /// scenario directory is one, so a name in it is ENOENT when missing and ENOTDIR for whatever follows it
    /// (a component too long is ENAMETOOLONG at its lookup, in walk order); "." stays where it is. ".." never
    /// reaches the model (the parser refuses it).
    func walk(_ path: String) -> Result<PathEnd, AddressError> {
        let bytes = Array(path.utf8)
        let components = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
        let dot: [UInt8] = [UInt8(ascii: ".")]
        var reachedFile = false
        for (index, component) in components.enumerated() {
            // The component after a non-directory: link_path_walk's d_can_lookup check.
            if reachedFile { return .failure(AddressError(ENOTDIR)) }
            if component.elementsEqual(dot) { continue }
            let name = FileName(component)
            if index == components.count - 1 {
                return .success(.name(name, trailingSlash: bytes.last == UInt8(ascii: "/")))
            }
            if name.bytes.count > Self.nameMax { return .failure(AddressError(ENAMETOOLONG)) }
            guard isNonDirectory(name) else { return .failure(AddressError(ENOENT)) }
            reachedFile = true
        }
        return reachedFile ? .failure(AddressError(ENOTDIR)) : .success(.directory)
    }

    /// The last component's lookup when nothing is created (open without O_CREAT, O_PATH, connect, sendto):
    /// ENAMETOOLONG for a name too long, ENOENT for a missing one, ENOTDIR for an existing one the path asked
    /// to be a directory (a trailing '/': lookup_last sets LOOKUP_DIRECTORY).
    func lookupExisting(_ name: FileName, trailingSlash: Bool) -> Result<FileName, AddressError> {
        if name.bytes.count > Self.nameMax { return .failure(AddressError(ENAMETOOLONG)) }
        guard isNonDirectory(name) else { return .failure(AddressError(ENOENT)) }
        if trailingSlash { return .failure(AddressError(ENOTDIR)) }
        return .success(name)
    }

    /// `walk`, then `lookupExisting` of the last name: where a path to something that exists leads (a name with
    /// no trailing slash, or the directory), or the errno. open without O_CREAT, O_PATH, connect and sendto.
    func existing(_ path: String) -> Result<PathEnd, AddressError> {
        switch walk(path) {
        case .failure(let error): return .failure(error)
        case .success(.directory): return .success(.directory)
        case .success(.name(let name, let trailingSlash)):
            return lookupExisting(name, trailingSlash: trailingSlash).map { .name($0, trailingSlash: false) }
        }
    }

    /// A path naming the scenario directory itself: the parser refuses it (directories are not modelled).
    static let directoryBeyondModel = Outcome.beyondModel("a path naming the scenario directory itself: directories are not modelled")

    /// True when `name` exists in the scenario directory and is not a directory.
    func isNonDirectory(_ name: FileName) -> Bool { files[name] != nil || socketFiles.contains(name) || fifos[name] != nil }
}
