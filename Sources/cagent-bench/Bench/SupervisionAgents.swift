extension SupervisionBench {
    /// The agents the supervision bench starts runs of, written to a temporary folder
    /// the service reads (`CAGENT_AGENTS_DIR`): one blocks the event loop (`time.sleep`
    /// in a coroutine, a stall the watchdog must interrupt), one exits the process a
    /// moment after answering (a crash the supervisor must restart from).
    enum Agents {
        static let source = """
            import asyncio, sys, time
            from agents.base import Agent

            class BenchBlock(Agent):
                id = "bench_block"
                async def run(self, input, context, emit):
                    time.sleep(float(input.get("seconds", 30)))
                    return {}

            class BenchCrash(Agent):
                id = "bench_crash"
                async def run(self, input, context, emit):
                    asyncio.get_running_loop().call_later(0.01, sys.exit, 9)
                    return {}
            """
    }
}
