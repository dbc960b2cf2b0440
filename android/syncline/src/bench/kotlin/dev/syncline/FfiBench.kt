// The cost of crossing the FFI from Kotlin: one trivial call, and fetching a page of 1,000 records.
// Run by scripts/ffi-bench next to the same work called from Rust (bindings/benches/ffi.rs).
package dev.syncline

import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.Query
import dev.syncline.core.types.Record
import java.nio.file.Files

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
    client.close()
}
