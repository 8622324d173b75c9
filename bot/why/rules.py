"""The failure finder's rules, kept as data: one table per tool, so anyone can add a tool.

A tool's table (``Tool``) has three kinds of rule, each with a name and an example line of the tool's
output (from the corpus's logs where it has one; ``tests/why`` checks every example against its rule,
on its own and among noise):

- ``ErrorRule``: a line that says what went wrong. ``more`` matches the lines that carry the error on
  (a traceback's frames, a compiler's code frame), ``last`` a line that ends it and belongs to it (the
  exception after the frames); ``keep="last"`` keeps the end of a block too long to show whole.
- ``TestRule``: a line that names a failed test; the name is ``label`` filled from the groups.
- ``CountRule``: a summary line (``line``) with how many tests failed: the numbers ``count`` finds in it
  are added up.

How the first error is chosen: the earliest line in the window that any error rule matches. Rules have
no priority over one another, because the corpus (``tests/why/corpus``) has shown no need for one:
tools print their own error before the shell's "exit code" or Buddy's closing line, so the earliest
line is also the most specific one. What keeps that true is how the rules are written: each matches a
line that says what is wrong, not a status that merely precedes it. A test runner's per-test
"FAILED" line that comes before the message (cargo's ``test x ... FAILED``, pytest's progress line)
is a test rule only; a status or a header that says nothing itself (Gradle's ``> Task :test FAILED``,
Maven's ``[ERROR] COMPILATION ERROR :``, Docker's ``level=error`` about a closed pipe before "Cannot
connect to the Docker daemon") is no rule. Where several rules match the same line, the first in
``TOOLS`` names it, which is why the specific tables come before the shell's and the generic one.

Writing a pattern: anchor it at the start of the line (``^``) or begin it with a literal; never let
a repeated group match the same text in two ways (``(a+)+``), and use no global flags (a scoped
``(?i:…)`` is fine). Lines reach the rules without colour codes, after a carriage return's redraw,
and cut to ``MAX_LINE_CHARS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MAX_LINE_CHARS = 1000  # what the rules see of a line: enough for any message, bounded for the regexes


@dataclass(frozen=True)
class ErrorRule:
    name: str
    pattern: str
    example: str
    more: str | None = None
    last: str | None = None
    keep: Literal["first", "last"] = "first"


@dataclass(frozen=True)
class TestRule:
    __test__ = False  # not a pytest test class, whatever its name

    name: str
    pattern: str
    example: str
    expected: str  # the name the example yields
    label: str = "{test}"


@dataclass(frozen=True)
class CountRule:
    name: str
    line: str
    count: str  # one group: a number to add up
    example: str
    expected: int


@dataclass(frozen=True)
class Tool:
    name: str
    errors: tuple[ErrorRule, ...] = ()
    tests: tuple[TestRule, ...] = ()
    counts: tuple[CountRule, ...] = ()


# Python's own exception line after a traceback's frames; also the end of unittest's report.
_EXCEPTION_LINE = r"^\S"
_INDENTED = r"^[ \t]+\S"

PYTHON = Tool(
    "python",
    errors=(
        ErrorRule(
            "traceback",
            r"^Traceback \(most recent call last\):$",
            "Traceback (most recent call last):",
            more=_INDENTED,
            last=_EXCEPTION_LINE,
            keep="last",
        ),
        ErrorRule("syntax-error", r"^(?:SyntaxError|IndentationError|TabError): \S", "SyntaxError: invalid syntax"),
    ),
)

PYTEST = Tool(
    "pytest",
    errors=(
        ErrorRule("assertion", r"^E {2,}\S", "E       assert -2 == -3", more=r"^E(?: |$)"),
        ErrorRule("internal-error", r"^INTERNALERROR> ", "INTERNALERROR> Traceback (most recent call last):"),
        # Only the short summary is left with --tb=no or -q --tb=line.
        ErrorRule("summary-failed", r"^FAILED \S+::\S+", "FAILED test_calc.py::test_ratio - ZeroDivisionError: division by zero"),
        ErrorRule("summary-error", r"^ERROR \S+\.py\b", "ERROR test_broken.py"),
    ),
    tests=(
        TestRule(
            "summary-failed",
            r"^FAILED (?P<test>\S+::\S+)",
            "FAILED test_calc.py::test_add_negative - assert -2 == -3",
            "test_calc.py::test_add_negative",
        ),
        TestRule("summary-error", r"^ERROR (?P<test>\S+\.py(?:::\S+)?)", "ERROR test_broken.py", "test_broken.py"),
        TestRule(
            "verbose",
            r"^(?P<test>\S+::\S+) (?:FAILED|ERROR)\b",
            "test_calc.py::test_ratio FAILED        [ 75%]",
            "test_calc.py::test_ratio",
        ),
    ),
    counts=(
        CountRule(
            "session-summary",
            r"^=* ?(?:\d+ [a-z]+, )*\d+ (?:failed|errors?)\b(?:, \d+ [a-z]+)* in [\d.]+s\b",
            r"\b(\d+) (?:failed|errors?)\b",
            "========================= 2 failed, 2 passed, 1 error in 0.08s ==========================",
            3,
        ),
    ),
)

UNITTEST = Tool(
    "unittest",
    errors=(
        ErrorRule(
            "failure",
            r"^(?:FAIL|ERROR): \w+ \([\w.]+\)",
            "ERROR: test_ratio (test_unit.CalcTest.test_ratio)",
            more=r"^(?:-{20,}|Traceback \(most recent call last\):|[ \t]+\S.*)$",
            last=_EXCEPTION_LINE,
        ),
    ),
    tests=(
        # Python 3.11 names the test in full, ``test_x (mod.Class.test_x)``; before, ``test_x (mod.Class)``.
        TestRule(
            "failure",
            r"^(?:FAIL|ERROR): (?P<method>\w+) \((?P<where>[\w.]+?)(?:\.(?P=method))?\)$",
            "FAIL: test_add_negative (test_unit.CalcTest.test_add_negative)",
            "test_unit.CalcTest.test_add_negative",
            label="{where}.{method}",
        ),
        TestRule(
            "verbose",
            r"^(?P<method>\w+) \((?P<where>[\w.]+?)(?:\.(?P=method))?\) \.\.\. (?:FAIL|ERROR)$",
            "test_ratio (test_unit.CalcTest) ... ERROR",
            "test_unit.CalcTest.test_ratio",
            label="{where}.{method}",
        ),
    ),
    counts=(
        CountRule(
            "result", r"^FAILED \((?:failures|errors)=\d+", r"(?:failures|errors)=(\d+)", "FAILED (failures=1, errors=1)", 2
        ),
    ),
)

GO = Tool(
    "go",
    errors=(
        # ``go test -v`` prints a test's messages before its --- FAIL line.
        ErrorRule("test-message", r"^[ \t]+\w[\w.-]*_test\.go:\d+: \S", "    cart_test.go:8: Total() = 8; want 11"),
        ErrorRule("test-failed", r"^[ \t]*--- FAIL: \S+", "--- FAIL: TestTotal (0.00s)", more=r"^[ \t]{4}"),
        ErrorRule("panic", r"^panic: \S", "panic: runtime error: index out of range [0] with length 0 [recovered]"),
        ErrorRule("compile", r"^[\w./-]+\.go:\d+:\d+: \S", "cart/cart.go:12:25: undefined: qty"),
        ErrorRule("build-failed", r"^FAIL\t\S+ \[(?:build|setup) failed\]$", "FAIL\texample.com/shop/cart [build failed]"),
    ),
    tests=(
        TestRule(
            "test-failed", r"^[ \t]*--- FAIL: (?P<test>\S+)", "    --- FAIL: TestDiscounts/half (0.00s)", "TestDiscounts/half"
        ),
    ),
)

RUST = Tool(
    "rust",
    errors=(
        ErrorRule(
            "panic",
            r"^thread '[^']*'(?: \(\d+\))? panicked at ",
            "thread 'tests::average_of_empty_ledger' (28596) panicked at src/lib.rs:6:5:",
            more=r"^(?!note: |stack backtrace:|---- |$)",
        ),
        ErrorRule(
            "compile",
            r"^error\[E\d{4}\]: ",
            "error[E0277]: cannot add `&str` to `i64`",
            more=r"^[ \t]*(?:-->|\d*[ \t]*\||= )",
        ),
        ErrorRule(
            "could-not-compile", r"^error: could not compile `", "error: could not compile `ledger` (lib) due to 1 previous error"
        ),
    ),
    tests=(
        TestRule(
            "test-failed",
            r"^test (?P<test>\S+) \.\.\. FAILED$",
            "test tests::average_of_empty_ledger ... FAILED",
            "tests::average_of_empty_ledger",
        ),
    ),
    counts=(
        CountRule(
            "result",
            r"^test result: FAILED\. ",
            r"\b(\d+) failed\b",
            "test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.22s",
            1,
        ),
    ),
)

JEST = Tool(
    "jest",
    errors=(
        ErrorRule(
            "failure",
            r"^[ \t]*● (?!Console$)\S",
            "  ● total › adds prices times quantities",
            # The message, down to the code frame (``> 5 | …``) or the stack (``at …``).
            more=r"^(?![ \t]+>?[ \t]*\d* \|)(?![ \t]+at )(?:[ \t]{4}.*|[ \t]*)$",
        ),
    ),
    tests=(
        TestRule(
            "failure",
            r"^[ \t]*● (?!Test suite failed to run$)(?!Console$)(?P<test>.*\S)",
            "  ● discount › refuses more than 100%",
            "discount › refuses more than 100%",
        ),
    ),
    counts=(
        CountRule("summary", r"^Tests:[ \t]+\d+ failed", r"\b(\d+) failed\b", "Tests:       2 failed, 2 passed, 4 total", 2),
    ),
)

VITEST = Tool(
    "vitest",
    errors=(
        ErrorRule(
            "failure",
            r"^[ \t]*FAIL[ \t]+\S+ > \S",
            " FAIL  vt/cart.test.js > total > adds prices times quantities",
            more=r"^(?:[A-Z]\w*)?Error\b",
        ),
    ),
    tests=(
        TestRule(
            "failure",
            r"^[ \t]*FAIL[ \t]+(?P<test>\S+ > .*\S)",
            " FAIL  vt/cart.test.js > discount > refuses more than 100%",
            "vt/cart.test.js > discount > refuses more than 100%",
        ),
    ),
    counts=(
        CountRule("summary", r"^[ \t]*Tests[ \t]+\d+ failed", r"\b(\d+) failed\b", "      Tests  2 failed | 1 passed (3)", 2),
    ),
)

MOCHA = Tool(
    "mocha",
    errors=(
        # In the list of failures after "N failing", under the test's title.
        ErrorRule(
            "failure",
            r"^[ \t]{3,}(?:[A-Z]\w*)?Error(?: \[[A-Z_]+\])?: ",
            "      AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:",
        ),
    ),
    tests=(
        # As the run goes, nested under its describe blocks (the list after "N failing" repeats them).
        TestRule("failure", r"^[ \t]{4,}\d+\) (?P<test>.*[^:\s])$", "      2) refuses more than 100%", "refuses more than 100%"),
    ),
    counts=(CountRule("summary", r"^[ \t]*\d+ failing$", r"(\d+) failing", "  2 failing", 2),),
)

RSPEC = Tool(
    "rspec",
    errors=(
        ErrorRule(
            "failure",
            r"^[ \t]+Failure/Error: ",
            "     Failure/Error: expect(cart.total).to eq(11)",
            more=r"^(?:[ \t]+(?!# )\S.*|[ \t]*)$",
        ),
        ErrorRule(
            "outside-examples", r"^An error occurred while loading \S", "An error occurred while loading ./spec/cart_spec.rb."
        ),
    ),
    tests=(
        TestRule(
            "failed-example",
            r"^rspec \S+ # (?P<test>.*\S)",
            "rspec ./spec/cart_spec.rb:6 # Cart adds prices times quantities",
            "Cart adds prices times quantities",
        ),
    ),
    counts=(CountRule("summary", r"^\d+ examples?, \d+ failures?", r"\b(\d+) failures?\b", "3 examples, 2 failures", 2),),
)

PHPUNIT = Tool(
    "phpunit",
    errors=(
        ErrorRule("failure", r"^\d+\) [\w\\]+::\w+", "1) Shop\\Tests\\CartTest::testRefusesMoreThanHundredPercent", more=r"^\S"),
    ),
    tests=(
        TestRule(
            "failure",
            r"^\d+\) (?P<test>[\w\\]+::\w+)",
            "1) Shop\\Tests\\CartTest::testAddsPricesTimesQuantities",
            "Shop\\Tests\\CartTest::testAddsPricesTimesQuantities",
        ),
    ),
    counts=(
        CountRule(
            "summary",
            r"^Tests: \d+, Assertions: \d+, ",
            r"\b(?:Errors|Failures): (\d+)",
            "Tests: 3, Assertions: 2, Errors: 1, Failures: 1.",
            2,
        ),
    ),
)

DOTNET = Tool(
    "dotnet",
    errors=(
        ErrorRule(
            "test-failed",
            r"^[ \t]+Failed \S+ \[[^\]]*\]$",
            "  Failed Billing.Tests.InvoiceTests.AddsTax [4 ms]",
            more=r"^(?![ \t]*Stack Trace:)(?![ \t]+(?:Failed|Passed|Skipped) \S+ \[)(?!Failed!).*\S",
        ),
        # MSBuild's diagnostics, the C# compiler's among them.
        ErrorRule(
            "build-error",
            r"^[^\s(][^(]*\(\d+,\d+\): error (?:CS|MSB|NU|NETSDK|FS|BC)\d+: ",
            "/src/Billing/Invoice.cs(11,20): error CS0103: The name 'Money' does not exist in the current context [/src/Billing/Billing.csproj]",
        ),
    ),
    tests=(
        TestRule(
            "test-failed",
            r"^[ \t]+Failed (?P<test>\S+) \[[^\]]*\]$",
            "  Failed Billing.Tests.InvoiceTests.SplitsAmongNobody [1 ms]",
            "Billing.Tests.InvoiceTests.SplitsAmongNobody",
        ),
        TestRule(
            "xunit",
            r"^\[xUnit\.net [\d:.]+\][ \t]+(?P<test>\S+) \[FAIL\]$",
            "[xUnit.net 00:00:00.41]     Billing.Tests.InvoiceTests.AddsTax [FAIL]",
            "Billing.Tests.InvoiceTests.AddsTax",
        ),
    ),
    counts=(
        CountRule(
            "summary",
            r"^Failed!\s+- Failed:\s+\d+",
            r"Failed:\s+(\d+)",
            "Failed!  - Failed:     2, Passed:     1, Skipped:     0, Total:     3, Duration: 12 ms - Billing.Tests.dll (net8.0)",
            2,
        ),
        CountRule(
            "test-summary",
            r"^Test summary: total: \d+, failed: \d+",
            r"failed: (\d+)",
            "Test summary: total: 3, failed: 2, succeeded: 1, skipped: 0, duration: 0.9s",
            2,
        ),
    ),
)

MAVEN = Tool(
    "maven",
    errors=(
        ErrorRule(
            "surefire-test",
            r"^\[ERROR\] \S+(?: -- |\s+)Time elapsed: .*<<< (?:FAILURE|ERROR)!$",
            "[ERROR] billing.InvoiceTest.splitsAmongNobody -- Time elapsed: 0.139 s <<< ERROR!",
            more=r"^[^\s\[]",
        ),
        # The first [ERROR] line is the cause; headers and summaries that name no cause are passed over.
        ErrorRule(
            "error",
            r"^\[ERROR\] (?!COMPILATION ERROR :|Tests run: |Failures: ?$|Errors: ?$)\S",
            "[ERROR] /buddy/billing/src/main/java/billing/Invoice.java:[11,16] cannot find symbol",
            more=r"^(?:\[ERROR\])?[ \t]+(?!at )\S",
        ),
    ),
    tests=(
        TestRule(
            "surefire",
            r"^\[ERROR\] (?P<test>[\w.$]+\.[\w$]+(?:\[\d+\])?) -- Time elapsed: .*<<< (?:FAILURE|ERROR)!$",
            "[ERROR] billing.InvoiceTest.addsTax -- Time elapsed: 0.011 s <<< FAILURE!",
            "billing.InvoiceTest.addsTax",
        ),
        TestRule(
            "surefire-2",
            r"^\[ERROR\] (?P<method>[\w$]+)\((?P<cls>[\w.$]+)\)\s+Time elapsed: .*<<< (?:FAILURE|ERROR)!$",
            "[ERROR] addsTax(billing.InvoiceTest)  Time elapsed: 0.011 s  <<< FAILURE!",
            "billing.InvoiceTest.addsTax",
            label="{cls}.{method}",
        ),
    ),
    counts=(
        CountRule(
            "tests-run",
            r"^\[(?:ERROR|WARNING|INFO)\] Tests run: \d+, Failures: \d+, Errors: \d+",
            r"\b(?:Failures|Errors): (\d+)",
            "[ERROR] Tests run: 3, Failures: 1, Errors: 1, Skipped: 0",
            2,
        ),
    ),
)

JUNIT = Tool(
    "junit",
    errors=(
        # JUnit 4's runner (JUnitCore) and the JUnit Platform console launcher's tree.
        ErrorRule("junit4-failure", r"^\d+\) [\w$]+\([\w.$]+\)$", "1) splitsAmongNobody(billing.InvoiceTest)", more=r"^[^\s]"),
        ErrorRule("console-failed", r"^[│ \t]*[└├]─ .+ ✘", "│     ├─ addsTax() ✘ expected: <12.10> but was: <12.00>"),
        ErrorRule(
            "console-exception",
            r"^[ \t]+=> [\w.$]+(?:Error|Exception|Failure)\b",
            "    => org.opentest4j.AssertionFailedError: expected: <12.10> but was: <12.00>",
        ),
    ),
    tests=(
        TestRule(
            "junit4-failure",
            r"^\d+\) (?P<method>[\w$]+)\((?P<cls>[\w.$]+)\)$",
            "2) addsTax(billing.InvoiceTest)",
            "billing.InvoiceTest.addsTax",
            label="{cls}.{method}",
        ),
        TestRule(
            "console-failure",
            r"^[ \t]+JUnit [\w ]+:(?P<test>[^:\s][^:]*:[^:\s].*\S)$",
            "  JUnit Jupiter:InvoiceTest:addsTax()",
            "InvoiceTest:addsTax()",
        ),
    ),
    counts=(
        CountRule("junit4-summary", r"^Tests run: \d+,\s+Failures: \d+$", r"Failures: (\d+)", "Tests run: 3,  Failures: 2", 2),
        CountRule(
            "console-summary",
            r"^\[[ \t]+\d+ tests failed[ \t]+\]$",
            r"(\d+) tests failed",
            "[         2 tests failed          ]",
            2,
        ),
    ),
)

GRADLE = Tool(
    "gradle",
    errors=(
        ErrorRule("test-failed", r"^[\w.$]+ > .+ FAILED$", "InvoiceTest > addsTax() FAILED", more=r"^[ \t]{4}\S"),
        ErrorRule(
            "build-failed",
            r"^FAILURE: Build failed with an exception\.$",
            "FAILURE: Build failed with an exception.",
            more=r"^(?!\* Try:)(?!BUILD FAILED)(?!\* Exception is:)",
        ),
    ),
    tests=(
        TestRule(
            "test-failed",
            r"^(?P<cls>[\w.$]+) > (?P<test>.+) FAILED$",
            "billing.InvoiceTest > splitsAmongNobody() FAILED",
            "billing.InvoiceTest.splitsAmongNobody()",
            label="{cls}.{test}",
        ),
    ),
    counts=(CountRule("summary", r"^\d+ tests? completed, \d+ failed", r"(\d+) failed", "3 tests completed, 2 failed", 2),),
)

TYPESCRIPT = Tool(
    "typescript",
    errors=(
        ErrorRule(
            "tsc",
            r"^[^\s(][^(]*\(\d+,\d+\): error TS\d+: ",
            "ts/price.ts(7,9): error TS2322: Type 'string' is not assignable to type 'number'.",
        ),
        ErrorRule(
            "tsc-pretty",
            r"^\S+:\d+:\d+ - error TS\d+: ",
            "ts/price.ts:7:9 - error TS2322: Type 'string' is not assignable to type 'number'.",
        ),
    ),
)

COMPILER = Tool(
    "compiler",
    errors=(
        # gcc, clang and javac: ``file:line:col: error: …`` (javac gives no column), then the code frame.
        ErrorRule(
            "diagnostic",
            r"^[^\s:][^:]*:\d+:(?:\d+:)? (?:fatal )?error: ",
            "sensor.c:18:25: error: ‘struct reading’ has no member named ‘label’",
            more=r"^[ \t]+\S",
        ),
        ErrorRule(
            "undefined-reference",
            r"^(?:\S*ld: )?\S+:\([^)]*\): undefined reference to ",
            "link.c:(.text+0x5): undefined reference to `calibrate'",
        ),
        ErrorRule("linker", r"^(?:collect2|\S*ld(?:\.\w+)?): error: ", "collect2: error: ld returned 1 exit status"),
    ),
)

NPM = Tool(
    "npm",
    errors=(
        # npm 9 and later write "npm error"; before, "npm ERR!".
        ErrorRule("error", r"^npm (?:ERR!|error) \S", 'npm error Missing script: "lint"', more=r"^npm (?:ERR!|error)(?: |$)"),
    ),
)

YARN = Tool(
    "yarn",
    errors=(
        ErrorRule("classic", r"^error (?!:)\S", 'error Command "deploy" not found.'),
        # Berry's codes: YN0001 an exception, YN0009 a package's build script failed.
        ErrorRule(
            "berry",
            r"^➤ YN000[19]: ",
            "➤ YN0009: │ esbuild@npm:0.20.2 couldn't be built successfully (exit code 1, logs can be found here: /tmp/xfs-8f2b1c0d/build.log)",
        ),
    ),
)

PNPM = Tool(
    "pnpm",
    errors=(
        # pnpm sets its codes off with thin spaces (U+2009), which ``\s`` matches.
        ErrorRule("error", r"^\s*ERR_PNPM_\w+\s", "\u2009ERR_PNPM_NO_SCRIPT\u2009 Missing script: deploy"),
        ErrorRule("lifecycle", r"^\s*ELIFECYCLE\s+\S", "\u2009ELIFECYCLE\u2009 Test failed. See above for more details."),
    ),
)

PIP = Tool(
    "pip",
    errors=(
        ErrorRule(
            "error",
            r"^ERROR: \S",
            "ERROR: Could not find a version that satisfies the requirement pdfgen>=3.1 (from versions: none)",
        ),
        ErrorRule(
            "subprocess",
            r"^error: (?:subprocess-exited-with-error|resolution-too-deep|externally-managed-environment)$",
            "error: subprocess-exited-with-error",
        ),
    ),
)

POETRY = Tool(
    "poetry",
    errors=(
        ErrorRule(
            "python-range",
            r"^The current project's supported Python range \(.*\) is not compatible",
            "The current project's supported Python range (>=3.10) is not compatible with some of the required packages "
            "Python requirement:",
            more=r"^[ \t]+- ",
        ),
        ErrorRule(
            "solver",
            r"^Because .*version solving failed\.$",
            "Because reports depends on reportlib (1.0) which requires Python >=3.13, version solving failed.",
        ),
        ErrorRule("problem", r"^[ \t]*(?:SolverProblemError|PackageNotFound|NoVersionFoundError)$", "  SolverProblemError"),
    ),
)

DOCKER = Tool(
    "docker",
    errors=(
        ErrorRule("step-failed", r"^[ \t]*=> ERROR \[[^\]]+\] ", " => ERROR [build 4/4] RUN npm ci && npm run build      4.2s"),
        ErrorRule(
            "plain-step-error",
            r"^#\d+ ERROR: ",
            '#9 ERROR: process "/bin/sh -c npm ci && npm run build" did not complete successfully: exit code: 1',
        ),
        ErrorRule(
            "failed-to-solve",
            r"^(?:ERROR: |error: )?failed to solve: ",
            'ERROR: failed to solve: process "/bin/sh -c npm ci && npm run build" did not complete successfully: exit code: 1',
        ),
        ErrorRule(
            "classic-step",
            r"^The command '.*' returned a non-zero code: \d+$",
            "The command '/bin/sh -c npm ci && npm run build' returned a non-zero code: 1",
        ),
        ErrorRule(
            "daemon",
            r"^(?:ERROR: |docker: )?Cannot connect to the Docker daemon at ",
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
        ),
    ),
)

TERRAFORM = Tool(
    "terraform",
    errors=(ErrorRule("error", r"^│ Error: ", "│ Error: Reference to undeclared input variable", more=r"^│"),),
)

HELM = Tool(
    "helm",
    errors=(
        ErrorRule(
            "release-failed",
            r"^Error: (?:INSTALLATION|UPGRADE|ROLLBACK|UNINSTALLATION) FAILED: ",
            "Error: UPGRADE FAILED: timed out waiting for the condition",
        ),
        ErrorRule(
            "error",
            r"^Error: (?:Kubernetes cluster unreachable|release: not found|template: |YAML parse error|"
            r"chart requires|failed to download|no repository definition|unable to build kubernetes objects)",
            'Error: Kubernetes cluster unreachable: Get "https://10.0.0.1/version": dial tcp 10.0.0.1:443: i/o timeout',
        ),
    ),
)

KUBECTL = Tool(
    "kubectl",
    errors=(
        ErrorRule(
            "error",
            r"^error: (?:error validating|the server|the path|unable to|timed out waiting|no objects passed|"
            r"resource mapping not found|deployment \"[^\"]*\" exceeded)",
            'error: error validating "deploy.yaml": error validating data: failed to download openapi: Get '
            '"http://localhost:8080/openapi/v2?timeout=32s": dial tcp 127.0.0.1:8080: connect: connection refused',
        ),
        ErrorRule(
            "from-server",
            r"^Error from server(?: \([A-Za-z]+\))?: ",
            'Error from server (NotFound): deployments.apps "web" not found',
        ),
        ErrorRule(
            "klog",
            r"^[EF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ",
            'E1201 21:13:32.692144   32564 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list"',
        ),
        ErrorRule(
            "connection-refused",
            r"^The connection to the server \S+ was refused",
            "The connection to the server localhost:8080 was refused - did you specify the right host or port?",
        ),
        ErrorRule(
            "unable-to-connect",
            r"^Unable to connect to the server: ",
            "Unable to connect to the server: dial tcp 10.0.0.1:443: i/o timeout",
        ),
    ),
)

BUDDY = Tool(
    "buddy",
    errors=(
        # Buddy's own closing lines for a failed action (reconstructed: Buddy publishes no list of them).
        ErrorRule(
            "action-failed",
            r"^(?:Action|Build|Execution|Pipeline) (?:has )?failed\b",
            "Build failed: script returned exit code 1",
        ),
        ErrorRule(
            "timeout",
            r"^(?:Action|Build|Execution) (?:has )?(?:timed out|exceeded the time limit)\b",
            "Action timed out after 3600 seconds",
        ),
    ),
)

SHELL = Tool(
    "shell",
    errors=(
        ErrorRule(
            "command-not-found", r"^\S+: (?:line \d+: )?.+: command not found$", "build.sh: line 6: hugo: command not found"
        ),
        ErrorRule("sh-not-found", r"^\S*sh: \d+: .+: not found$", "sh: 1: migrate: not found"),
        ErrorRule("zsh-not-found", r"^zsh:\d+: command not found: \S", "zsh:1: command not found: hugo"),
        ErrorRule("permission-denied", r"^\S*sh: (?:line \d+: )?.+: Permission denied$", "bash: ./deploy.sh: Permission denied"),
        ErrorRule("make", r"^make(?:\[\d+\])?: \*\*\* ", "make: *** [Makefile:4: sensor] Error 1"),
        # Whoever says it (a wrapper script, a CI step, a tool), a non-zero exit code is a failure.
        ErrorRule("exit-code", r"exit(?:ed with)? (?:code|status)[: ]+[1-9]\d*\b", "upload gave up, exit code 3"),
    ),
)

GENERIC = Tool(
    "generic",
    errors=(
        # Node's uncaught exceptions, a Python exception without its traceback, Terraform and Helm
        # without colour: "Error: …" or "TypeError: …" at the start of a line.
        ErrorRule(
            "error-prefix",
            r"^(?:[A-Z][\w.]*)?Error: \S",
            "Error: Cannot find module '@babel/runtime/helpers/interopRequireDefault'",
        ),
        ErrorRule("error-lower", r"^error: \S", "error: pathspec 'releases/v2' did not match any file(s) known to git"),
        ErrorRule("fatal", r"^(?:fatal|FATAL|Fatal error): \S", "fatal: repository 'https://github.com/acme/web.git/' not found"),
        ErrorRule(
            "java-exception",
            r"^Exception in thread \"[^\"]*\" [\w.$]+",
            'Exception in thread "main" java.lang.IllegalStateException: no config',
        ),
    ),
)

TOOLS: tuple[Tool, ...] = (
    PYTHON,
    PYTEST,
    UNITTEST,
    GO,
    RUST,
    JEST,
    VITEST,
    MOCHA,
    RSPEC,
    PHPUNIT,
    DOTNET,
    MAVEN,
    JUNIT,
    GRADLE,
    TYPESCRIPT,
    COMPILER,
    DOCKER,
    NPM,
    YARN,
    PNPM,
    PIP,
    POETRY,
    TERRAFORM,
    HELM,
    KUBECTL,
    BUDDY,
    SHELL,
    GENERIC,
)
