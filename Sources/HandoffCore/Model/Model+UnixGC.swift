#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The AF_UNIX garbage collector (net/unix/garbage.c, the graph-based collector since Linux 6.10).
//
// A socket whose descriptor is in flight (inside an SCM_RIGHTS message queued on a unix socket) is a
// vertex; each in-flight reference is an edge from that socket to the socket whose receive queue holds it
// (unix_add_edges: predecessor = the in-flight socket, successor = the receiver). When the receiver is an
// embryo - a connection waiting in a listener's accept queue - the edge leads to the listener instead
// (unix_edge_successor: "the listener indirectly holds the fd's refcnt"); accept() ends that
// (unix_update_edges clears ->listener).
//
// __unix_gc walks the strongly connected components of that graph (unix_walk_scc, __unix_walk_scc: Tarjan's
// algorithm, iterative) and collects an SCC only when it is dead (unix_vertex_dead, for every vertex):
// - every edge stays inside the SCC: a receiver that is not in flight (its socket is still reachable from a
//   descriptor table) or in flight in another SCC keeps it alive;
// - the socket's file count equals its in-flight count (out_degree): one more reference - a descriptor
//   still open anywhere, a dup, another process's copy - keeps it alive.
// A single vertex is only a cycle with an edge to itself (unix_scc_cyclic): a socket sent over itself, or a
// listener sent over one of its own embryos. Collecting splices the receive queues of the SCC's sockets (for
// a listener, its embryos' queues: unix_collect_skb) into a hit list and purges it: every description in
// flight there loses that reference - the sockets themselves, and whatever rode along (a pipe end riding in
// the cycle is released, so its reader sees end of file).
//
// MSG_PEEK (unix_peek_fds, Model+MessageFlags.swift) installs new references to the files of a queued
// message while the message, and its in-flight references, stay. A peeked socket therefore has a file count
// above its in-flight count: its SCC is not dead until the peeked copy is closed, which is what the model
// computes (the copy is a table entry like any other). The kernel's subtlety is a race the model cannot
// have: a peek that duplicates the files *while* __unix_gc is walking (gc_in_progress) would slip past the
// walk's refcount snapshot, so unix_peek_fpl bumps unix_peek_seq (a seqcount barrier under its own lock) and
// unix_vertex_dead's final check sees the change and keeps the SCC (scc_dead = false for this run). The model
// applies steps one at a time, so a peek is always wholly before or wholly after a collection; a scenario
// whose peek and unix_gc run concurrently in two processes could see the kernel keep a cycle the model
// collected in that step, and is not written (nor generated: the fuzzer runs one step at a time).
//
// When it runs: unix_release_sock calls unix_gc() whenever a unix socket is released while sockets are in
// flight, and unix_gc only queues the work (system_unbound_wq). Any process on the machine releasing a unix
// socket schedules it, so a dead cycle may be collected at any moment after it died - or never, on an idle
// machine. Scenarios therefore ask for it explicitly: `unix_gc` releases a fresh socketpair (a guaranteed
// schedule) and the model collects every dead SCC at that step; the kernel does so in the workqueue shortly
// after, so every step that observes the result must wait for it - a poll with a timeout, or a blocking
// read (both return as soon as the collection happened); the worker's references go with delayed fput
// (__fput_deferred from a kernel thread), so two objects it frees may be released a moment apart. Between
// the close that killed a cycle and that wait the kernel may or may not have collected already (another
// socket's release anywhere schedules it): the runner judges such a step against the model as it is and,
// when that differs from the kernel, against the model after a collection, and adopts the collection when it
// explains the kernel's answer (found by handoff fuzz, seed 1203: an empty send on a dead cycle's peer said
// EPIPE once in 80,000 scenarios).

extension ReferenceModel {
    /// `unix_gc`: socketpair(AF_UNIX) and the release of both ends (two numbers first: EMFILE), which
    /// schedules the collector; the model collects what is dead now (see the file's comment).
    mutating func unixGC(_ process: String) -> Outcome {
        guard lowestFree(process, count: 2) != nil else { return .failure(EMFILE) }
        collectGarbage()
        return Outcome(result: 0)
    }

    /// A dead cycle waits for the collector: the kernel may take it at any moment from now on (the runner
    /// then judges a step against both, ScenarioExecution.perform).
    var hasUncollectedGarbage: Bool { !deadInFlightSockets().isEmpty }

    /// __unix_gc until nothing more dies: each collection releases sockets, and their releases schedule the
    /// collector again (unix_release_sock -> unix_gc).
    mutating func collectGarbage() {
        while true {
            let dead = deadInFlightSockets()
            guard !dead.isEmpty else { return }
            // unix_collect_skb: the hit list takes every queue of the dead SCCs first, then it is purged.
            var hitList: [DescriptionID] = []
            for endpoint in dead.sorted() {
                for queueOwner in collectedQueues(of: endpoint) {
                    for message in endpoints[queueOwner]?.queue ?? [] { hitList += message.descriptions }
                    endpoints[queueOwner]?.queue = []
                }
            }
            for description in hitList { release(description) }
        }
    }

    /// unix_collect_skb: a listener's vertex collects its embryos' queues, any other socket its own.
    func collectedQueues(of endpoint: EndpointID) -> [EndpointID] {
        if let listener = endpoints[endpoint]?.listener { return listener.waiting }
        return [endpoint]
    }

    /// The in-flight unix sockets of every dead strongly connected component (unix_walk_scc with
    /// unix_vertex_dead and unix_scc_cyclic).
    func deadInFlightSockets() -> Set<EndpointID> {
        let graph = inFlightGraph()
        // The runner asks before every step: most steps have no socket in flight at all.
        if graph.edges.isEmpty { return [] }
        var dead: Set<EndpointID> = []
        for component in stronglyConnectedComponents(graph.edges) {
            let members = Set(component)
            let cyclic = component.count > 1 || (graph.edges[component[0]] ?? []).contains(component[0])
            guard cyclic else { continue }
            let allDead = component.allSatisfy { vertex in
                // unix_vertex_dead: every receiver in flight in this SCC, and no reference but the in-flight ones.
                graph.edges[vertex, default: []].allSatisfy { $0.map(members.contains) ?? false }
                    && graph.fileCount[vertex] == graph.outDegree[vertex]
            }
            if allDead { dead.formUnion(members) }
        }
        return dead
    }

    /// The collector's graph: for every unix socket in flight (a vertex), the successor of each of its
    /// in-flight references (nil when the receiver is not itself in flight), its out_degree and its file count.
    struct InFlightGraph {
        var edges: [EndpointID: [EndpointID?]] = [:]
        var outDegree: [EndpointID: Int] = [:]
        var fileCount: [EndpointID: Int] = [:]
    }

    func inFlightGraph() -> InFlightGraph {
        var graph = InFlightGraph()
        var receivers: [(vertex: EndpointID, receiver: EndpointID)] = []
        // unix_get_socket: only unix sockets (not O_PATH files) become vertices.
        func unixSocket(_ id: DescriptionID) -> (EndpointID, Int)? {
            guard let desc = descriptions[id], !desc.released, !desc.pathOnly, case .socket(let e) = desc.target,
                  endpoints[e]?.family == .unix
            else { return nil }
            return (e, desc.references)
        }
        for (receiver, endpoint) in endpoints where !endpoint.closed {
            for message in endpoint.queue {
                for id in message.descriptions {
                    guard let (vertex, references) = unixSocket(id) else { continue }
                    graph.outDegree[vertex, default: 0] += 1
                    graph.fileCount[vertex] = references
                    receivers.append((vertex, receiver))
                }
            }
        }
        // Embryos in accept queues: unix_edge_successor leads to their listener.
        var listenerOf: [EndpointID: EndpointID] = [:]
        for (id, endpoint) in endpoints where !endpoint.closed {
            for embryo in endpoint.listener?.waiting ?? [] { listenerOf[embryo] = id }
        }
        for (vertex, receiver) in receivers {
            let successor = listenerOf[receiver] ?? receiver
            graph.edges[vertex, default: []].append(graph.outDegree[successor] != nil ? successor : nil)
        }
        return graph
    }

    /// Tarjan's strongly connected components over the vertices (edges to nil lead out of the graph).
    func stronglyConnectedComponents(_ edges: [EndpointID: [EndpointID?]]) -> [[EndpointID]] {
        var index: [EndpointID: Int] = [:]
        var lowLink: [EndpointID: Int] = [:]
        var onStack: Set<EndpointID> = []
        var stack: [EndpointID] = []
        var components: [[EndpointID]] = []
        var next = 0
        func visit(_ vertex: EndpointID) {
            index[vertex] = next
            lowLink[vertex] = next
            next += 1
            stack.append(vertex)
            onStack.insert(vertex)
            for case let successor? in edges[vertex] ?? [] {
                if index[successor] == nil {
                    visit(successor)
                    lowLink[vertex] = min(lowLink[vertex] ?? 0, lowLink[successor] ?? 0)
                } else if onStack.contains(successor) {
                    lowLink[vertex] = min(lowLink[vertex] ?? 0, index[successor] ?? 0)
                }
            }
            guard lowLink[vertex] == index[vertex] else { return }
            var component: [EndpointID] = []
            while let top = stack.popLast() {
                onStack.remove(top)
                component.append(top)
                if top == vertex { break }
            }
            components.append(component)
        }
        for vertex in edges.keys.sorted() where index[vertex] == nil { visit(vertex) }
        return components
    }
}
