import CorralCommands

/// The `corral` executable: everything lives in `CorralCommands`.
@main
enum CorralMain {
    static func main() async {
        await Corral.runMain()
    }
}
