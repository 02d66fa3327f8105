import Loopback
import Testing

struct DurationUnitsTests {
    @Test func unitsOfADuration() {
        #expect(Duration.milliseconds(1999.9).milliseconds == 1999)
        #expect(Duration.seconds(90).milliseconds == 90_000)
        #expect(Duration.milliseconds(1500).inSeconds == 1.5)
        #expect(Duration.microseconds(2500).inMilliseconds == 2.5)
    }

    @Test func aPollTimeoutNeverEndsBeforeTheDeadlineAndFitsInt32() {
        #expect(Duration.microseconds(300).pollTimeout == 1)
        #expect(Duration.milliseconds(20).pollTimeout == 21)
        #expect(Duration.seconds(10_000_000).pollTimeout == Int32.max)
    }
}
