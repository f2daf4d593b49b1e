"""What the python viewers report about decoded audio: frame and sample counts, and over the last
second its RMS level and dominant frequency (numpy FFT with a Hann window). Shared by
aiortc_viewer.py and gst_viewer.py; run with Debian's /usr/bin/python3 (python3-numpy)."""

import numpy


class AudioMeter:
    def __init__(self, rate=48000, every=50):
        self.rate = rate
        self.every = every  # report after this many frames
        self.frames = 0
        self.samples = 0
        self.window = numpy.zeros(0, dtype=numpy.float64)

    def add(self, mono):
        """mono: one decoded frame as a 1-D array of samples (any numeric dtype, s16 scale).
        Returns a report dict every `every` frames, else None."""
        self.frames += 1
        self.samples += len(mono)
        self.window = numpy.concatenate([self.window, numpy.asarray(mono, dtype=numpy.float64)])[-self.rate:]
        if self.frames % self.every != 0:
            return None
        return self.report()

    def report(self):
        w = self.window
        rms = float(numpy.sqrt(numpy.mean(w * w))) if len(w) else 0.0
        freq = 0.0
        if len(w) >= 1024 and rms > 0:
            spectrum = numpy.abs(numpy.fft.rfft(w * numpy.hanning(len(w))))
            bins = numpy.fft.rfftfreq(len(w), 1.0 / self.rate)
            spectrum[bins < 50] = 0  # ignore DC and rumble
            freq = float(bins[int(numpy.argmax(spectrum))])
        return {"type": "audio", "frames": self.frames, "samples": self.samples, "rate": self.rate,
                "rms": round(rms, 1), "freq": round(freq, 1)}


def tone(frequency, start_sample, count, rate=48000, amplitude=0.3):
    """`count` s16 samples of a sine wave starting at sample `start_sample`."""
    t = (numpy.arange(count) + start_sample) / float(rate)
    return (amplitude * 32767 * numpy.sin(2 * numpy.pi * frequency * t)).astype(numpy.int16)
