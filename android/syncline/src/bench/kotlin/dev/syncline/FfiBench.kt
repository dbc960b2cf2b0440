// The cost of crossing the FFI from Kotlin: one trivial call, and fetching a page of 1,000 records.
// Run by scripts/ffi-bench next to the same work called from Rust (bindings/benches/ffi.rs).
//
// JNA probes in the same run take the trivial call apart (docs/benchmarks.md, "FFI"): a bare
// direct-mapped call into libc and into libsyncline, the allocation of the call-status Structure
// every uniffi call makes, and the handle clone and free every method call adds. They use the
// generated bindings' internal objects, which this file may see because scripts/ffi-bench
// compiles both in one module.
package dev.syncline

import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.Query
import dev.syncline.core.types.Record
import com.sun.jna.Native
import com.sun.jna.Structure
import dev.syncline.core.IntegrityCheckingUniffiLib
import dev.syncline.core.UniffiLib
import dev.syncline.core.UniffiRustCallStatus
import java.nio.file.Files

/** libc's `getpid`, direct-mapped as uniffi maps its functions: JNA's floor on this JVM. */
internal object ProbeLibC {
    init {
        Native.register(ProbeLibC::class.java, "c")
    }

    external fun getpid(): Int
}

/** The smallest JNA Structure: what allocating one costs, whatever its fields. */
@Structure.FieldOrder("value")
internal class ProbeStructure : Structure() {
    @JvmField var value: Long = 0
}

/** Median of [rounds] rounds of [n] calls of [work], in nanoseconds per call. */
fun medianNanos(rounds: Int, n: Int, work: () -> Unit): Double {
    val perCall = (1..rounds).map {
        val start = System.nanoTime()
        repeat(n) { work() }
        (System.nanoTime() - start).toDouble() / n
    }.sorted()
    return perCall[perCall.size / 2]
}

/** Prints both figures on one line, in the form scripts/ffi-bench reads. */
fun main() {
    val dir = Files.createTempDirectory("syncline-bench")
    val config = defaultConfig("http://127.0.0.1:9", "t").copy(auto = manualAutoSync())
    val client = SynclineClient.open(dir.resolve("bench.db").toString(), sampleSchema(), config)
    for (i in 0 until 1000) {
        client.insert("tasks", Record(key = "t-%04d".format(i), values = mapOf(
            "project_id" to Value.Text("p-bench"),
            "title" to Value.Text("Task number $i with a title of typical length"),
            "done" to Value.Boolean(i % 2 == 0),
            "priority" to Value.Integer(i.toLong() % 5),
        )))
    }
    val page = Query(emptyList(), emptyList(), 1000u, 0uL)
    check(client.query("tasks", page).records.size == 1000)
    // Warm-up: JIT and caches.
    medianNanos(3, 20_000) { client.networkStatus() }
    medianNanos(3, 50) { client.query("tasks", page) }
    val trivial = medianNanos(7, 20_000) { client.networkStatus() }
    val query = medianNanos(7, 200) { client.query("tasks", page) }
    println("kotlin trivial_call_ns=%.1f page_1000_us=%.1f".format(trivial, query / 1000))
    probes(client)
    client.close()
}

/** The JNA probes (see the file's head), warmed up like the calls above, on one line. */
fun probes(client: SynclineClient) {
    var sink = 0L
    val probes = linkedMapOf<String, () -> Unit>(
        "libc_getpid_ns" to { sink += ProbeLibC.getpid() },
        "bare_call_ns" to { sink += IntegrityCheckingUniffiLib.ffi_syncline_uniffi_contract_version() },
        "structure_alloc_ns" to { sink += ProbeStructure().value },
        "call_status_alloc_ns" to { sink += UniffiRustCallStatus().code },
        // What `networkStatus` adds around its own call: clone the handle, and the method frees
        // it; here a clone and a free, each with a new call status, as the bindings make them.
        "clone_free_ns" to {
            val h = client.uniffiCloneHandle()
            UniffiLib.uniffi_syncline_fn_free_synclineclient(h, UniffiRustCallStatus())
        },
    )
    // The same two calls with one call status reused: what the Structure allocations cost.
    val kept = client.uniffiCloneHandle()
    val status = UniffiRustCallStatus()
    probes["clone_free_reused_status_ns"] = {
        val h = UniffiLib.uniffi_syncline_fn_clone_synclineclient(kept, status)
        UniffiLib.uniffi_syncline_fn_free_synclineclient(h, status)
    }
    val line = probes.map { (name, work) ->
        medianNanos(3, 20_000, work)
        "%s=%.1f".format(name, medianNanos(7, 20_000, work))
    }
    UniffiLib.uniffi_syncline_fn_free_synclineclient(kept, status)
    println("probes " + line.joinToString(" ") + " (sink $sink)")
}
