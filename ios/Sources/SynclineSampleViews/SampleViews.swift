// Apple only: the sample app's screens in SwiftUI. Each binds to its model in SynclineSample,
// where the state, the actions and the words live (and which the Linux tests cover); nothing here
// decides. Each screen makes its model once: @State keeps the first (one made again when a parent
// redraws is released at once, and its watches with it).
//
// Words: every label is the model's `text("sample_…")` (SampleText's tables, English and
// German); the Linux tests read this file for the keys it asks for. Colours: text is the
// platform's `Color.primary` on the system backgrounds (never `.secondary`, 3.4:1 on white);
// the app's tint (buttons, links) is SyncPalette's action colour, record marks and error lines
// SyncPalette's, picked by the environment's colour scheme. SyncPalette.textPairs lists them all
// and the Linux tests hold each to WCAG AA, light and dark. Fonts are the semantic ones, so
// Dynamic Type scales them.
#if canImport(SwiftUI)
import Syncline
import SynclineCore
import SynclineSample
import SwiftUI

/// Sign-in until a client is open; then the projects and what they lead to, the banner on top
/// (its Review opens the conflicts or the refused changes).
public struct SampleRootView: View {
    @Bindable private var session: SessionModel
    @State private var path = NavigationPath()
    @Environment(\.colorScheme) private var scheme
    /// The app's root for `session`.
    public init(session: SessionModel) { self.session = session }

    public var body: some View {
        let text = session.text
        if let client = session.client, let banner = session.banner {
            NavigationStack(path: $path) {
                ProjectsView(client: client, text: text).toolbar { Button(text("sample_sign_out")) { session.signOut() } }
            }
            .safeAreaInset(edge: .top) { SyncBannerView(model: banner) }
            .tint(SyncPalette.action(Appearance(scheme)).color)
            .onAppear {
                banner.onReview = { inbox in
                    path = NavigationPath([inbox == .conflicts ? Route.conflicts : Route.quarantine])
                }
            }
        } else {
            Form {
                LabeledContent(text("sample_server_url")) {
                    TextField(text("sample_server_url"), text: $session.serverURL).autocorrectionDisabled()
                }
                LabeledContent(text("sample_token")) { SecureField(text("sample_token"), text: $session.token) }
                Button(session.isOpening ? text("sample_signing_in") : text("sample_sign_in")) { Task { await session.signIn() } }
                    .disabled(session.isOpening)
                ErrorLine(error: session.error)
            }
            .tint(SyncPalette.action(Appearance(scheme)).color)
        }
    }
}

enum Route: Hashable { case project(String), task(String), conflicts, quarantine }

/// A model's last error, in the palette's error colour.
struct ErrorLine: View {
    let error: String?
    @Environment(\.colorScheme) var scheme
    var body: some View {
        if let error { Text(error).foregroundStyle(SyncPalette.error(Appearance(scheme)).color) }
    }
}

/// A section's heading in `Color.primary` (the default header colour is the secondary label's,
/// 3.4:1 on the grouped background).
struct Heading: View {
    let title: String
    var body: some View { Text(title).font(.headline).foregroundStyle(Color.primary) }
}

/// A text field with its label beside it in `Color.primary`: the label carries the meaning,
/// the placeholder (the system's placeholder colour, well below AA) only repeats it.
struct LabeledField: View {
    let label: String
    @Binding var value: String
    var submit: () -> Void = {}
    var body: some View {
        LabeledContent(label) { TextField(label, text: $value).onSubmit(submit) }
    }
}

/// A record's mark ("Not synced yet"…) in the palette's colour for its state.
struct MarkText: View {
    let mark: String?
    let state: RecordState?
    @Environment(\.colorScheme) var scheme
    var body: some View {
        if let mark {
            Text(mark).font(.subheadline).foregroundStyle((SyncPalette.mark(state, Appearance(scheme)) ?? SyncPalette.System.label(Appearance(scheme))).color)
        }
    }
}

struct ProjectsView: View {
    let client: SynclineClient
    let text: SampleText
    @State private var model: ProjectsModel
    init(client: SynclineClient, text: SampleText) {
        self.client = client
        self.text = text
        _model = State(initialValue: ProjectsModel(client: client, text: text))
    }

    var body: some View {
        List {
            ForEach(model.projects) { p in
                NavigationLink(value: Route.project(p.id)) {
                    VStack(alignment: .leading) {
                        Text(p.name)
                        if let description = p.description { Text(description).font(.subheadline) }
                    }
                }
            }
            if model.conflicts > 0 { NavigationLink(text("sample_conflicts_link", Int64(model.conflicts)), value: Route.conflicts) }
            if model.quarantined > 0 { NavigationLink(text("sample_quarantine_link", Int64(model.quarantined)), value: Route.quarantine) }
            ErrorLine(error: model.error)
        }
        .navigationTitle(text("sample_projects"))
        .navigationDestination(for: Route.self) { route in
            switch route {
            case .project(let id): TasksView(model: TasksModel(client: client, projectID: id, text: text))
            case .task(let id): TaskView(model: TaskModel(client: client, taskID: id, text: text))
            case .conflicts: ConflictsView(model: ConflictsModel(client: client, text: text))
            case .quarantine: QuarantineView(model: QuarantineModel(client: client, text: text))
            }
        }
    }
}

struct TasksView: View {
    @State var model: TasksModel
    var body: some View {
        List {
            LabeledField(label: model.text("sample_new_task"), value: $model.newTitle) { model.addNewTask() }
            ForEach(model.tasks) { task in
                HStack {
                    Button { model.toggle(task.id) } label: { Image(systemName: task.done ? "checkmark.circle.fill" : "circle") }
                        .buttonStyle(.borderless).accessibilityLabel(task.title)
                    NavigationLink(value: Route.task(task.id)) {
                        VStack(alignment: .leading) {
                            Text(task.title)
                            MarkText(mark: task.mark, state: task.state)
                        }
                    }
                }
            }
            ErrorLine(error: model.error)
        }
        .navigationTitle(model.text("sample_tasks"))
    }
}

struct TaskView: View {
    @State var model: TaskModel
    var body: some View {
        let text = model.text
        Form {
            if let task = model.task {
                LabeledField(label: text("sample_field_title"), value: $model.titleDraft) { model.saveTitle() }
                LabeledField(label: text("sample_field_notes"), value: $model.notesDraft) { model.saveNotes() }
                Toggle(text("sample_field_done"), isOn: Binding(get: { task.done }, set: { _ in model.toggle() }))
                Toggle(text("sample_has_due_date"), isOn: Binding(get: { task.due != nil }, set: { model.setDue($0 ? Date() : nil) }))
                if let due = task.due {
                    DatePicker(text("sample_field_due"), selection: Binding(get: { due }, set: { model.setDue($0) }), displayedComponents: .date)
                }
                MarkText(mark: task.mark, state: task.state)
                Section {
                    ForEach(model.comments) { c in
                        VStack(alignment: .leading) {
                            Text(c.body)
                            let about = [c.author, c.createdAt?.formatted()].compactMap { $0 }.joined(separator: " · ")
                            if !about.isEmpty { Text(about).font(.subheadline) }
                            MarkText(mark: c.mark, state: c.state)
                        }
                    }
                    LabeledField(label: text("sample_add_comment"), value: $model.commentDraft) { model.sendComment() }
                } header: {
                    Heading(title: text("sample_comments"))
                }
            } else if model.isGone {
                Text(text("sample_task_deleted"))
            }
            ErrorLine(error: model.error)
        }
    }
}

struct ConflictsView: View {
    @State var model: ConflictsModel
    var body: some View {
        let text = model.text
        List {
            ForEach($model.conflicts) { $item in
                Section {
                    ForEach($item.fields) { $field in
                        Text(field.summary)
                        LabeledField(label: text("sample_merged_field", field.label), value: $field.merged)
                    }
                    HStack {
                        Button(text("sample_keep_mine")) { model.keepMine(item.id) }
                        Button(text("sample_keep_theirs")) { model.keepTheirs(item.id) }
                        Button(text("sample_use_merged")) { model.merge(item.id) }
                    }.buttonStyle(.borderless)
                } header: {
                    Heading(title: item.heading)
                }
            }
            ErrorLine(error: model.error)
        }
        .navigationTitle(text("sample_conflicts"))
    }
}

/// The quarantined mutations; users read "Refused changes".
struct QuarantineView: View {
    @State var model: QuarantineModel
    @Environment(\.colorScheme) var scheme
    var body: some View {
        let text = model.text
        List {
            ForEach($model.quarantined) { $item in
                Section {
                    Text(item.reason)
                    if let detail = item.detail { Text(detail).font(.footnote) }
                    ForEach($item.fields) { $field in LabeledField(label: field.label, value: $field.edited) }
                    HStack {
                        Button(text("sample_retry")) { model.retry(item.id) }
                        Button(text("sample_send_edited")) { model.sendEdited(item.id) }
                        // Not role .destructive: its system red is 3.6:1 on white; the palette's
                        // error colour meets AA.
                        Button(text("sample_discard")) { model.discard(item.id) }
                            .tint(SyncPalette.error(Appearance(scheme)).color)
                    }.buttonStyle(.borderless)
                } header: {
                    Heading(title: item.heading)
                }
            }
            ErrorLine(error: model.error)
        }
        .navigationTitle(text("sample_quarantine"))
    }
}
#endif
