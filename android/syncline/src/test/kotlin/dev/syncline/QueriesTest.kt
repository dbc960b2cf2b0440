// Query's builder: the same shape as Rust's and Swift's.
package dev.syncline

import dev.syncline.core.protocol.Value
import dev.syncline.core.types.Filter
import dev.syncline.core.types.Query
import dev.syncline.core.types.Sort
import dev.syncline.core.types.SortOrder
import org.junit.Assert.assertEquals
import org.junit.Test

class QueriesTest {
    @Test
    fun filtersAndSortFieldsAddUpInOrder() {
        val q = Query.all(50u)
            .filter("project_id", Value.Text("p-harbor"))
            .filter("done", Value.Boolean(false))
            .order("due_at", SortOrder.DESCENDING)
            .order("title")
        assertEquals(50u, q.limit)
        assertEquals(0uL, q.offset)
        assertEquals(listOf(Filter("project_id", Value.Text("p-harbor")), Filter("done", Value.Boolean(false))), q.filters)
        assertEquals(listOf(Sort("due_at", SortOrder.DESCENDING), Sort("title", SortOrder.ASCENDING)), q.sort)
    }
}
