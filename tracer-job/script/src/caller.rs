//! Calls a script's event handlers.
//!
//! rhai's `FnPtr::call` starts a fresh runtime state and function-resolution cache at
//! every call, so each event made the handler look up again every function it calls
//! (`count`, `<`, a field getter), filling and freeing a new cache each time. Here both
//! live as long as the script; only the count of operations, which the engine's limits
//! apply to per call, starts again from zero. So does the scope the handler's argument
//! and variables live in, which keeps its room from call to call.

use rhai::{
    AST, Caches, Dynamic, Engine, EvalAltResult, EvalContext, FnPtr, GlobalRuntimeState, Scope,
};

pub struct Caller {
    global: GlobalRuntimeState,
    caches: Caches,
    scope: Scope<'static>,
}

impl Caller {
    pub fn new(engine: &Engine, ast: &AST) -> Self {
        let mut global = engine.new_global_runtime_state();
        // The script's own functions, the handlers among them.
        global.lib.push(ast.shared_lib().clone());
        Caller {
            global,
            caches: Caches::new(),
            scope: Scope::new(),
        }
    }

    /// Calls `callback` with `arg`, as `callback.call(engine, ast, (arg,))` does.
    pub fn call(
        &mut self,
        engine: &Engine,
        ast: &AST,
        callback: &FnPtr,
        arg: Dynamic,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        // A closure carries the values it captured as curried arguments; those take the
        // general path.
        if callback.is_curried() {
            return callback.call(engine, ast, (arg,));
        }
        self.global.num_operations = 0;
        let mut arg = arg;
        let result = EvalContext::new(
            engine,
            &mut self.global,
            &mut self.caches,
            &mut self.scope,
            None,
        )
        .call_fn_raw(callback.fn_name(), false, false, &mut [&mut arg]);
        // The engine unwinds the scope itself; this only makes sure nothing of one event
        // is left for the next.
        self.scope.clear();
        result
    }
}
