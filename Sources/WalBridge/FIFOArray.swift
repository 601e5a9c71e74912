/// A first-in, first-out queue on one array: elements leave from the front by
/// moving a head index, and the consumed prefix is dropped once it is all of
/// the array, or larger than `compactAfter` and more than half of it. Elements
/// are addressed by their offset from the front. Used by `Watermark` and
/// `ReplayWindow`, whose queues see one append and one removal per transaction.
struct FIFOArray<Element> {
    private var storage: [Element] = []
    private var head = 0
    private let compactAfter: Int

    init(compactAfter: Int) {
        self.compactAfter = compactAfter
    }

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }
    var first: Element? { isEmpty ? nil : storage[head] }
    var last: Element? { isEmpty ? nil : storage[storage.count - 1] }

    /// The element `offset` places behind the front.
    subscript(offset: Int) -> Element {
        get { storage[head + offset] }
        set { storage[head + offset] = newValue }
    }

    mutating func append(_ element: Element) {
        storage.append(element)
    }

    /// Removes the front element (the queue must not be empty).
    mutating func removeFirst() {
        precondition(!isEmpty, "removeFirst on an empty FIFOArray")
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head > compactAfter && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        head = 0
    }
}
extension FIFOArray: Sendable where Element: Sendable {}
