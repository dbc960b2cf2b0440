// Apple only: the sample app's screens in SwiftUI. Each binds to its model in SynclineSample,
// where the state and the actions live (and which the Linux tests cover); nothing here decides.
// Each screen makes its model once: @State keeps the first (one made again when a parent
// redraws is released at once, and its watches with it).
#if canImport(SwiftUI)
import Syncline
import SynclineCore
import SynclineSample
import SwiftUI

/// Sign-in until a client is open; then the projects and what they lead to, the banner on top.
public struct SampleRootView: View {
    @Bindable private var session: SessionModel
    /// The app's root for `session`.
    public init(session: SessionModel) { self.session = session }

    public var body: some View {
        if let client = session.client, let banner = session.banner {
            NavigationStack { ProjectsView(client: client).toolbar { Button("Sign out") { session.signOut() } } }
                .safeAreaInset(edge: .top) { SyncBannerView(model: banner) }
        } else {
            Form {
                TextField("Server URL", text: $session.serverURL).autocorrectionDisabled()
                SecureField("Token", text: $session.token)
                Button(session.isOpening ? "Signing in…" : "Sign in") { Task { await session.signIn() } }.disabled(session.isOpening)
                errorLine(session.error)
            }
        }
    }
}

enum Route: Hashable { case project(String), task(String), conflicts, quarantine }

/// A model's last error, in red.
@ViewBuilder private func errorLine(_ error: String?) -> some View { if let error { Text(error).foregroundStyle(.red) } }

struct ProjectsView: View {
    let client: SynclineClient
    @State private var model: ProjectsModel
    init(client: SynclineClient) { self.client = client; _model = State(initialValue: ProjectsModel(client: client)) }

    var body: some View {
        List {
            ForEach(model.projects) { p in
                NavigationLink(value: Route.project(p.id)) { LabeledContent(p.name, value: p.description ?? "") }
            }
            if model.conflicts > 0 { NavigationLink("Conflicts (\(model.conflicts))", value: Route.conflicts) }
            if model.quarantined > 0 { NavigationLink("Refused changes (\(model.quarantined))", value: Route.quarantine) }
            errorLine(model.error)
        }
        .navigationTitle("Projects")
        .navigationDestination(for: Route.self) { route in
            switch route {
            case .project(let id): TasksView(model: TasksModel(client: client, projectID: id))
            case .task(let id): TaskView(model: TaskModel(client: client, taskID: id))
            case .conflicts: ConflictsView(model: ConflictsModel(client: client))
            case .quarantine: QuarantineView(model: QuarantineModel(client: client))
            }
        }
    }
}

struct TasksView: View {
    @State var model: TasksModel
    var body: some View {
        List {
            TextField("New task", text: $model.newTitle).onSubmit { model.addNewTask() }
            ForEach(model.tasks) { task in
                HStack {
                    Button { model.toggle(task.id) } label: { Image(systemName: task.done ? "checkmark.circle.fill" : "circle") }
                        .buttonStyle(.borderless).accessibilityLabel(task.title)
                    NavigationLink(value: Route.task(task.id)) { LabeledContent(task.title, value: task.mark ?? "") }
                }
            }
            errorLine(model.error)
        }
        .navigationTitle("Tasks")
    }
}

struct TaskView: View {
    @State var model: TaskModel
    var body: some View {
        Form {
            if let task = model.task {
                TextField("Title", text: $model.titleDraft).onSubmit { model.saveTitle() }
                TextField("Notes", text: $model.notesDraft).onSubmit { model.saveNotes() }
                Toggle("Done", isOn: Binding(get: { task.done }, set: { _ in model.toggle() }))
                Toggle("Has a due date", isOn: Binding(get: { task.due != nil }, set: { model.setDue($0 ? Date() : nil) }))
                if let due = task.due { DatePicker("Due", selection: Binding(get: { due }, set: { model.setDue($0) }), displayedComponents: .date) }
                if let mark = task.mark { Text(mark).foregroundStyle(.orange) }
                Section("Comments") {
                    ForEach(model.comments) { c in
                        LabeledContent(c.body, value: [c.author, c.createdAt?.formatted(), c.mark].compactMap { $0 }.joined(separator: " · "))
                    }
                    TextField("Add a comment", text: $model.commentDraft).onSubmit { model.sendComment() }
                }
            } else if model.isGone {
                Text("This task was deleted.")
            }
            errorLine(model.error)
        }
    }
}

struct ConflictsView: View {
    @State var model: ConflictsModel
    var body: some View {
        List {
            ForEach($model.conflicts) { $item in
                Section(item.title) {
                    ForEach($item.fields) { $field in
                        Text("\(field.id): before \(field.base) · mine \(field.mine) · theirs \(field.theirs)")
                        TextField("Merged \(field.id)", text: $field.merged)
                    }
                    HStack {
                        Button("Keep mine") { model.keepMine(item.id) }
                        Button("Keep theirs") { model.keepTheirs(item.id) }
                        Button("Use merged") { model.merge(item.id) }
                    }.buttonStyle(.borderless)
                }
            }
            errorLine(model.error)
        }
        .navigationTitle("Conflicts")
    }
}

/// The quarantined mutations; users read "Refused changes".
struct QuarantineView: View {
    @State var model: QuarantineModel
    var body: some View {
        List {
            ForEach($model.quarantined) { $item in
                Section(item.title) {
                    Text(item.reason).foregroundStyle(.secondary)
                    ForEach($item.fields) { $field in TextField(field.id, text: $field.edited) }
                    HStack {
                        Button("Retry") { model.retry(item.id) }
                        Button("Send edited") { model.sendEdited(item.id) }
                        Button("Discard", role: .destructive) { model.discard(item.id) }
                    }.buttonStyle(.borderless)
                }
            }
            errorLine(model.error)
        }
        .navigationTitle("Refused changes")
    }
}
#endif
