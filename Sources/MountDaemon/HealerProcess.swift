import Glibc
import LocalCAS
import RemoteCAS

/// Heals blobs the remote lost through `lazycas heal-server` (``MountSpec/healer``): healing
/// needs the build driver — the artifacts built here and the actions that made them — which
/// the mount daemon does not link. The process starts at the first lost blob and lives until
/// the mount ends, so one heal of an artifact serves every blob of it.
///
/// One line each way per blob: `HASH/SIZE` asks; `HASH/SIZE ok`, or `HASH/SIZE CODE MESSAGE`
/// (a ``CASError/Code``) answers. Requests for a blob already asked for wait for that answer.
actor HealerProcess: BlobHealer {
    let command: [String]
    let spec: MountSpec
    /// The running healer and the pipe to its stdin; nil before the first heal and after it ended.
    private var child: (process: ChildProcess, input: Int32)?
    private var waiting: [Digest: [CheckedContinuation<CASError?, Never>]] = [:]

    init(command: [String], spec: MountSpec) {
        self.command = command
        self.spec = spec
    }

    func heal(_ digest: Digest, lost: CASError) async throws(CASError) {
        let failure = await withCheckedContinuation { (answer: CheckedContinuation<CASError?, Never>) in
            ask(digest, answer)
        }
        if let failure { throw failure }
    }

    func close() async {
        guard let child else { return }
        self.child = nil
        Glibc.close(child.input)  // end of its input: it finishes and exits
        _ = try? await BlockingWork.run { child.process.wait() }
    }

    private func ask(_ digest: Digest, _ waiter: CheckedContinuation<CASError?, Never>) {
        if waiting[digest] != nil {
            waiting[digest]?.append(waiter)
            return
        }
        waiting[digest] = [waiter]
        do throws(CASError) {
            let input = try started()
            guard FileDescriptorIO.writeLine(digest.description, to: input) else {
                throw CASError(.remote, "cannot heal \(digest): the healer (\(command.joined(separator: " "))) has stopped")
            }
        } catch {
            answer(digest, error)
        }
    }

    /// The healer's stdin, starting it first if it is not running.
    private func started() throws(CASError) -> Int32 {
        if let child { return child.input }
        let toChild = try ChildProcess.pipe()
        let fromChild: (read: Int32, write: Int32)
        do { fromChild = try ChildProcess.pipe() } catch {
            Glibc.close(toChild.read)
            Glibc.close(toChild.write)
            throw error
        }
        defer {
            Glibc.close(toChild.read)
            Glibc.close(fromChild.write)
        }
        let process: ChildProcess
        do {
            process = try ChildProcess(command, environment: ChildProcess.currentEnvironment + [spec.environmentEntry],
                                       descriptors: [STDIN_FILENO: toChild.read, STDOUT_FILENO: fromChild.write])
        } catch {
            Glibc.close(toChild.write)
            Glibc.close(fromChild.read)
            throw error
        }
        child = (process, toChild.write)
        let replies = FileDescriptorIO.lines(of: fromChild.read)
        Task {
            for await line in replies { self.received(line) }
            await self.ended(process)
        }
        return toChild.write
    }

    private func received(_ line: String) {
        let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
        guard let first = parts.first, let digest = try? Digest(parsing: first), parts.count >= 2 else { return }
        if parts[1] == "ok" {
            answer(digest, nil)
        } else {
            let code = CASError.Code(rawValue: parts[1]) ?? .remote
            answer(digest, CASError(code, parts.count > 2 ? parts[2] : "cannot heal \(digest)"))
        }
    }

    /// The healer's output ended: it exited (or crashed). Whoever still waits fails; the next
    /// lost blob starts a new one.
    private func ended(_ process: ChildProcess) async {
        if let child, child.process.pid == process.pid {
            Glibc.close(child.input)
            self.child = nil
        }
        let orphaned = Array(waiting.keys)
        let status = (try? await BlockingWork.run { process.wait() }) ?? -1
        for digest in orphaned {
            answer(digest, CASError(.remote, "cannot heal \(digest): the healer (\(command.joined(separator: " "))) exited with status \(status)"))
        }
    }

    private func answer(_ digest: Digest, _ failure: CASError?) {
        for waiter in waiting.removeValue(forKey: digest) ?? [] { waiter.resume(returning: failure) }
    }
}
