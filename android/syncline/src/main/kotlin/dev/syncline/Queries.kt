// Queries built the way Rust and Swift build them: Query.all(limit).filter(…).order(…). The same
// value goes to query() for one page and to watchFlow() to follow it.
package dev.syncline

import dev.syncline.core.protocol.Value
import dev.syncline.core.types.Filter
import dev.syncline.core.types.Query
import dev.syncline.core.types.Sort
import dev.syncline.core.types.SortOrder

/** The first [limit] records, in key order; add [filter] and [order]. */
fun Query.Companion.all(limit: UInt): Query =
    Query(filters = emptyList(), sort = emptyList(), limit = limit, offset = 0u)

/** This query, keeping only records whose [field] equals [value] (every filter must hold). */
fun Query.filter(field: String, value: Value): Query = copy(filters = filters + Filter(field, value))

/** This query, sorted by [field] after its sort fields so far (the key breaks ties). */
fun Query.order(field: String, order: SortOrder = SortOrder.ASCENDING): Query =
    copy(sort = sort + Sort(field, order))
