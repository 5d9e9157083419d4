#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Network namespaces (net/core/net_namespace.c, kernel/nsproxy.c): a socket belongs to the namespace of the
// process that created it (sock_net, fixed at socket(2)) and keeps it wherever its descriptor goes. What a
// namespace separates here: abstract unix names (unix_find_abstract looks in sock_net's table), and 127.0.0.1,
// whose loopback is down in a new namespace. Pathname sockets are found through the file system, so they
// connect across namespaces. PID namespaces are not modelled: the runner names processes by pid.

extension ReferenceModel {
    /// kernel/nsproxy.c: unshare_nsproxy_namespaces - CAP_SYS_ADMIN (EPERM), then copy_net_ns: the caller alone
    /// moves; its children forked later start there, its existing sockets stay where they were.
    mutating func unshareNet(_ process: String) -> Outcome {
        if lacks(process, "CAP_SYS_ADMIN") { return .failure(EPERM) }
        netns[process] = nextNetns
        nextNetns += 1
        // A process sharing the caller's table (CLONE_FILES) does not share its namespaces.
        return Outcome(result: 0)
    }

    /// The namespace `process` lives in now, where the sockets it creates from now on belong (sock_net).
    func namespace(of process: String) -> Int { netns[process, default: 0] }

    /// The key of an abstract name of a socket of `type` in namespace `namespace` (a socket's own,
    /// SocketEndpoint.netns, or the process's for a socket being created): its bytes, the type and the
    /// namespace (unix_find_abstract looks in sock_net's table, hashed with the type).
    func abstractKey(_ name: String, _ type: SocketType, in namespace: Int) -> BoundAddress {
        .abstract(FileName(name), type, namespace: namespace)
    }
}
